"Packaging: one version, the public API, the console script, CI running what the README says."
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import collab_nb

ROOT = Path(__file__).resolve().parents[1]

def test_version_matches_settings():
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    assert collab_nb.__version__ == cfg['DEFAULT']['version']

def test_installed_version_matches():
    from importlib.metadata import version
    assert version('collab_nb') == collab_nb.__version__

def test_all_exports_public_api():
    ns = {}
    exec('from collab_nb.all import *', ns)
    for name in ('load_movielens', 'read_ratings', 'validate_ratings', 'synth_ratings', 'CollabVocab',
                 'RatingsDataLoaders', 'random_split', 'movielens_fold', 'holdout_split'):
        assert name in ns, name

def test_console_script_installed():
    exe = shutil.which('collab-nb') or str(Path(sys.executable).with_name('collab-nb'))
    r = subprocess.run([exe, '--help'], capture_output=True, text=True)
    assert r.returncode == 0 and 'data' in r.stdout

def _readme_commands():
    "The shell commands in README.md's fenced `bash` blocks"
    txt = (ROOT/'README.md').read_text()
    blocks = re.findall(r"```bash\n(.*?)```", txt, re.S)
    return [l.strip() for b in blocks for l in b.splitlines() if l.strip() and not l.strip().startswith('#')]

def test_ci_runs_readme_test_command():
    "CI runs the README's commands as written: install + main job, install + fast suite, the slow runs"
    cmds = _readme_commands()
    ci = (ROOT/'.ci'/'run').read_text().splitlines()
    assert len(cmds) == 3 and cmds[-1] == 'pytest -m slow', cmds
    for cmd in cmds: assert cmd in ci, f"{cmd!r} is not what .ci/run runs"

@pytest.mark.slow
def test_readme_python_examples_run():
    "The README's Python examples run as written"
    blocks = re.findall(r"```python\n(.*?)```", (ROOT/'README.md').read_text(), re.S)
    assert blocks
    for b in blocks:
        ns = {}
        exec(compile(b, 'README.md', 'exec'), ns)
    train_mse, valid_mse = ns['learn'].recorder.values[-1]
    assert valid_mse < 0.85

@pytest.mark.slow
def test_wheel_builds_handouts_outside_the_clone(tmp_path):
    "A wheel installed in a fresh venv (dependencies borrowed from this one) builds the handouts: the exercises ship in it"
    import site
    import venv
    whl_dir, env, out = tmp_path/'wheel', tmp_path/'venv', tmp_path/'handout'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', str(whl_dir), str(ROOT)],
                   check=True, cwd=tmp_path, capture_output=True)
    venv.create(env, with_pip=False)
    sp = next(env.glob('lib/python*/site-packages'))
    (sp/'_borrowed.pth').write_text('\n'.join(site.getsitepackages()) + '\n')  # fastai, torch, nbformat … without the editable install
    whl = next(whl_dir.glob('collab_nb-*.whl'))
    subprocess.run([sys.executable, '-m', 'pip', '--python', str(env/'bin'/'python'), 'install', '-q', '--no-deps', str(whl)],
                   check=True, capture_output=True)
    r = subprocess.run([str(env/'bin'/'collab-nb'), 'exercises', 'build', str(out), '--json'], cwd=tmp_path,
                       capture_output=True, text=True, env={k: v for k,v in os.environ.items() if k != 'PYTHONPATH'})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)['student'] == len(list((ROOT/'collab_nb'/'classroom'/'exercises').glob('*.ipynb')))
    where = subprocess.run([str(env/'bin'/'python'), '-c', 'import collab_nb; print(collab_nb.__file__)'], cwd=tmp_path,
                           capture_output=True, text=True, env={k: v for k,v in os.environ.items() if k != 'PYTHONPATH'}).stdout
    assert str(sp) in where and str(ROOT) not in where, where

def test_readme_is_generated_from_index():
    "README.md is what `python tools/readme.py` makes of nbs/index.ipynb (its stored outputs included)"
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
