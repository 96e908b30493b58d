"""README.md is generated from nbs/index.ipynb (no Quarto here, so not by nbdev-readme).

    python tools/readme.py          # write README.md
    python tools/readme.py --check  # exit 1 if README.md is not what index.ipynb gives

Markdown cells are copied as they are; a code cell that is not `#| hide` becomes a ```python block followed by its
stored text output (as a plain ``` block), so the README shows what the notebook ran.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = '<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, then run the script -->\n\n'

def _text(o)->str:
    "Plain text of one output, '' for plots and other rich outputs"
    if o.get('output_type') == 'stream': return ''.join(o.get('text', ''))
    d = o.get('data', {})
    if any(k.startswith('image/') for k in d): return ''
    return ''.join(d.get('text/plain', ''))

def _cell_md(c)->str|None:
    "README text of one notebook cell, None if it is hidden"
    src = ''.join(c['source']).strip('\n')
    if c['cell_type'] == 'markdown': return src
    if c['cell_type'] != 'code' or src.startswith('#| hide') or '#| hide\n' in src: return None
    lines = [l for l in src.splitlines() if not l.startswith('#|')]
    res = '```python\n' + '\n'.join(lines) + '\n```'
    out = ''.join(_text(o) for o in c.get('outputs', [])).rstrip('\n')
    return res + ('\n\n```\n' + out + '\n```' if out else '')

def readme(nb_path=ROOT/'nbs'/'index.ipynb')->str:
    "README.md's text from the index notebook"
    cells = json.loads(Path(nb_path).read_text())['cells']
    return HEADER + '\n\n'.join(t for t in map(_cell_md, cells) if t is not None) + '\n'

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    txt, fn = readme(), ROOT/'README.md'
    if '--check' in argv:
        ok = fn.read_text() == txt
        print('README.md is current' if ok else 'README.md differs from nbs/index.ipynb: run python tools/readme.py')
        return 0 if ok else 1
    fn.write_text(txt)
    return 0

if __name__ == '__main__': sys.exit(main())
