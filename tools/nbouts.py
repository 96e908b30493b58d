"""Store the course notebooks executed, and check that their stored outputs are current.

    python tools/nbouts.py store nbs/02_dot_product.ipynb ...   # execute, write outputs into the files
    python tools/nbouts.py check nbs/02_dot_product.ipynb ...   # execute, compare with the stored outputs

Notebooks run in a Jupyter kernel (nbclient) from their own folder, one torch thread, `IN_TEST=1`, with the cell
that calls `nbdev_export` skipped. The check fails on a code cell whose stored outputs are missing while the fresh
run has some (or the other way round), on a different kind of output (text, table, plot), on different text once
the numbers are taken out (the same words in another order pass: near ties swap places on another CPU), and on numbers that differ by more than a tolerance. A cell whose source has the comment
`# nbcheck: varies` is compared without its numbers (times, or a checker's fresh random inputs, change every run);
so is the verdict line a checker prints (`✓ name: correct (details of its fresh random inputs)`), wherever it appears,
so that the exercise notebooks handed to students need no such comment in their check cells.
"""
import argparse
import copy
import os
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
MAX_CHARS = 3000  # longer text outputs are cut when stored, so notebooks stay small enough to diff
VARIES = '# nbcheck: varies'
_NUM = re.compile(r'[-+]?(?:\d[\d,]*\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)')
_ADDR = re.compile(r' at 0x[0-9a-f]+|/tmp/[^\s\'"]+|<ipython-input-[^>]*>')
_VERDICT = re.compile(r'^✓ [\w.]+: correct \(.*\)$', re.M)  # a checker's verdict: its details name random inputs

def _skip(cell)->bool:
    "Cells not to run: the export cell at the end of a notebook"
    return cell.cell_type != 'code' or 'nbdev_export(' in cell.source

def _env()->dict:
    "Kernel environment: one thread, nbdev's test flag, plots stored inline as PNG (whatever `MPLBACKEND` the caller has)"
    env = dict(os.environ, IN_TEST='1', MPLBACKEND='module://matplotlib_inline.backend_inline', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONHASHSEED='0', COLUMNS='120')
    shared = ROOT.parent/'shared'/'data'
    if 'COLLAB_NB_DATA' not in env and shared.is_dir(): env['COLLAB_NB_DATA'] = str(shared)
    return env

def execute(path, timeout:int=600)->nbformat.NotebookNode:
    "A copy of notebook `path` with fresh outputs (export cells left unrun)"
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', allow_errors=False,
                            resources={'metadata': {'path': str(path.parent)}})
    old_env = dict(os.environ)
    os.environ.update(_env())
    try:
        with client.setup_kernel(cwd=str(path.parent), env=_env()):
            for i, cell in enumerate(nb.cells):
                if cell.cell_type == 'code': cell.outputs = []
                if not _skip(cell): client.execute_cell(cell, i)
    finally:
        os.environ.clear(); os.environ.update(old_env)
    return nb

def _cut(text:str)->str: return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + '\n…(output cut)\n'

def _tidy(outputs:list)->list:
    "Outputs as stored: consecutive prints merged, long texts cut, execution counts dropped, warnings on stderr dropped"
    res = []
    for o in outputs:
        o = copy.deepcopy(o)
        if o.get('output_type') == 'stream':
            if o.get('name') == 'stderr': continue
            text = ''.join(o['text']) if isinstance(o['text'], list) else o['text']
            if res and res[-1].get('output_type') == 'stream':  # the kernel may split one print into several messages
                res[-1]['text'] = _cut(res[-1]['text'] + text); continue
            o['text'] = _cut(text)
        if 'data' in o:
            for k in ('text/plain', 'text/html', 'text/markdown'):
                if k in o['data']:
                    v = o['data'][k]; v = ''.join(v) if isinstance(v, list) else v
                    o['data'][k] = _cut(v)
        if o.get('output_type') == 'execute_result': o['execution_count'] = None
        o.pop('metadata', None) if o.get('output_type') == 'stream' else None
        res.append(o)
    return res

def store(path)->Path:
    "Execute notebook `path` and write its outputs into the file"
    path = Path(path)
    nb = execute(path)
    for c in nb.cells:
        if c.cell_type == 'code': c.outputs, c.execution_count = _tidy(c.outputs), None
    nbformat.write(nb, path)
    return path

def _texts(outputs:list)->list:
    "`(kind, text)` of each output, text from streams, errors and the plain-text form of results"
    res = []
    for o in _tidy(outputs):
        t = o.get('output_type')
        if t == 'stream': res.append(('stream', o['text']))
        elif t == 'error': res.append(('error', o.get('ename', '')))
        else:
            d = o.get('data', {})
            kind = 'image' if any(k.startswith('image/') for k in d) else 'text'
            txt = d.get('text/plain', '')
            res.append((kind, '' if kind == 'image' else (''.join(txt) if isinstance(txt, list) else txt)))
    return res

def _numbers(s:str)->list: return [float(m.replace(',', '')) for m in _NUM.findall(_ADDR.sub('', s)) if re.search(r'\d', m)]
def _skeleton(s:str)->str: return _NUM.sub('#', _ADDR.sub('', s)).replace(' ', '')

def _words(s:str)->list: return sorted(_NUM.sub('#', _ADDR.sub('', s)).split())

def compare_cell(stored:list, fresh:list, varies:bool=False, rtol:float=0.05, atol:float=0.02)->str|None:
    "Why `stored` outputs are stale compared with `fresh` ones, or None if they agree"
    a, b = _texts(stored), _texts(fresh)
    if not a and b: return 'output missing from the stored notebook'
    if a and not b: return 'stored output that the notebook no longer produces'
    if [k for k,_ in a] != [k for k,_ in b]: return f'kinds of output differ: stored {[k for k,_ in a]}, fresh {[k for k,_ in b]}'
    for (_, x), (_, y) in zip(a, b):
        x, y = (_VERDICT.sub(lambda m: _NUM.sub('#', m.group()), t) for t in (x, y))  # verdicts compared without numbers
        # the same words in another order (two near-tied films swapping places on another CPU) agree; other words do not
        swapped = _skeleton(x) != _skeleton(y)
        if swapped and _words(x) != _words(y): return f'text differs: stored {x[:120]!r}, fresh {y[:120]!r}'
        if varies: continue
        nx, ny = (sorted(_numbers(x)), sorted(_numbers(y))) if swapped else (_numbers(x), _numbers(y))
        bad = [(u, v) for u, v in zip(nx, ny) if abs(u-v) > atol + rtol*abs(v)]
        if bad: return f'numbers differ: stored {bad[0][0]:g}, fresh {bad[0][1]:g}'
    return None

def check(path)->list:
    "Problems (one line each) with the stored outputs of notebook `path`"
    path = Path(path)
    stored, fresh = nbformat.read(path, as_version=4), execute(path)
    probs = []
    for i, (s, f) in enumerate(zip(stored.cells, fresh.cells)):
        if s.cell_type != 'code' or _skip(s): continue
        why = compare_cell(s.outputs, f.outputs, varies=VARIES in s.source)
        if why: probs.append(f"{path.name} cell {i} ({s.get('id')}): {why}")
    return probs

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('action', choices=['store', 'check'])
    p.add_argument('notebooks', nargs='+')
    a = p.parse_args(argv)
    bad = []
    for fn in a.notebooks:
        if a.action == 'store': print('stored', store(fn))
        else: bad += check(fn)
    print('\n'.join(bad) or 'stored outputs are current')
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
