"Build collab_nb from settings.ini, the single source of its metadata (nbdev 2 template shape)."
from configparser import ConfigParser
from pathlib import Path

import setuptools

here = Path(__file__).parent
config = ConfigParser(delimiters=['='])
config.read(here/'settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

for k in 'version description keywords author author_email license lib_name min_python'.split():
    assert k in cfg, f'settings.ini is missing `{k}`'

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable']
py_versions = '3.10 3.11 3.12 3.13'.split()
lic = licenses[cfg['license']]
min_python = cfg['min_python']
requirements = cfg.get('requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split()
classroom_requirements = cfg.get('classroom_requirements', '').split()

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    license=lic[0],
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title(),
                 'License :: ' + lic[1]] +
                ['Programming Language :: Python :: ' + o for o in py_versions[py_versions.index(min_python):]],
    description=cfg['description'],
    long_description=(here/'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
    url=f"https://github.com/{cfg['user']}/{cfg['lib_name']}",
    packages=setuptools.find_packages(include=[cfg['lib_path'], cfg['lib_path'] + '.*']),
    include_package_data=True,
    package_data={cfg['lib_name'] + '.classroom': ['exercises/*.ipynb']},  # exercise sources ship in the wheel
    install_requires=requirements,
    extras_require={'classroom': classroom_requirements, 'dev': classroom_requirements + dev_requirements},
    python_requires='>=' + min_python,
    zip_safe=False,
    entry_points={'console_scripts': cfg.get('console_scripts', '').split()},
)
