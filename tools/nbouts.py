"""Store the course notebooks executed, and check that their stored outputs are current.

    python tools/nbouts.py store nbs/02_dot_product.ipynb ...   # execute, write outputs into the files
    python tools/nbouts.py check nbs/02_dot_product.ipynb ...   # execute, compare with the stored outputs

Notebooks run in a Jupyter kernel (nbclient) from their own folder, one torch thread, `IN_TEST=1`, with the cell
that calls `nbdev_export` skipped. The check fails on a code cell whose stored outputs are missing while the fresh
run has some (or the other way round), on a different kind of output (text, table, plot), on different text once
the numbers are taken out (the same words in another order pass: near ties swap places on another CPU), and on numbers that differ by more than a tolerance. A cell whose source has the comment
`# nbcheck: varies` is compared without its numbers (times, or a checker's fresh random inputs, change every run);
so is the verdict line a checker prints (`✓ name: correct (details of its fresh random inputs)`), wherever it appears,
so that the exercise notebooks handed to students need no such comment in their check cells. A cell with
`# nbcheck: random` shows a random sample whose words change too (which films a chain's draws put at the top of a
list): it is compared by the kinds of its outputs only, and must assert in its own source what the prose claims of it.
The `variants` action re-runs the check in other numeric environments (`VARIANTS`) and lists near misses too.
"""
import argparse
import contextlib
import copy
import multiprocessing as mp
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
MAX_CHARS = 3000  # longer text outputs are cut when stored, so notebooks stay small enough to diff
VARIES, RANDOM = '# nbcheck: varies', '# nbcheck: random'
_NUM = re.compile(r'[-+]?(?:\d[\d,]*\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)')
_ADDR = re.compile(r' at 0x[0-9a-f]+|/tmp/[^\s\'"]+|<ipython-input-[^>]*>')
_VERDICT = re.compile(r'^✓ [\w.]+: correct \(.*\)$', re.M)  # a checker's verdict: its details name random inputs

def _skip(cell)->bool:
    "Cells not to run: the export cell at the end of a notebook"
    return cell.cell_type != 'code' or 'nbdev_export(' in cell.source

# Numeric environments a stored output must survive: torch's vector kernels (ATEN_CPU_CAPABILITY), MKL's code paths
# (MKL_CBWR, what another CPU vendor or generation would take) and two threads instead of one. `check --variant NAME`
# runs the check in one of them; `variants` runs it in each (see `tests/test_notebooks.py` and README's *Tests*).
VARIANTS = {'native': {}, 'default': dict(ATEN_CPU_CAPABILITY='default'), 'avx2': dict(ATEN_CPU_CAPABILITY='avx2'),
            'mkl-compatible': dict(MKL_CBWR='COMPATIBLE'), 'generic': dict(ATEN_CPU_CAPABILITY='default', MKL_CBWR='COMPATIBLE'),
            'threads-2': dict(OMP_NUM_THREADS='2', MKL_NUM_THREADS='2', NBOUTS_THREADS='2')}
# run first in the kernel of a `threads-2` check: two torch threads, whatever the notebook asks for
_THREADS = "import torch as _t; _t.set_num_threads({n}); _t.set_num_threads = lambda n: None; del _t"

def _env(variant:str='native')->dict:
    "Kernel environment: one thread, nbdev's test flag, plots stored inline as PNG (whatever `MPLBACKEND` the caller has)"
    env = dict(os.environ, IN_TEST='1', MPLBACKEND='module://matplotlib_inline.backend_inline', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONHASHSEED='0', COLUMNS='120')
    env.update(VARIANTS[variant])
    shared = ROOT.parent/'shared'/'data'
    if 'COLLAB_NB_DATA' not in env and shared.is_dir(): env['COLLAB_NB_DATA'] = str(shared)
    return env

# The global state a notebook may change and the next one must not see (a reused kernel resets it before each notebook);
# taken once the inline backend is active, as it is in a fresh kernel from the first plot on
_SNAPSHOT = """
import os, sys, types, warnings, matplotlib, matplotlib.pyplot, matplotlib_inline.backend_inline, numpy, pandas, torch
import collab_nb.all  # fastai and the package change pandas' options when first imported: every notebook imports them
with warnings.catch_warnings():
    warnings.simplefilter('ignore'); pd_opts = {k: pandas.get_option(k) for k in pandas._config.config._registered_options}
sys.modules['_nbouts_state'] = types.SimpleNamespace(env=dict(os.environ), path=list(sys.path), warnings=list(warnings.filters),
    rc=dict(matplotlib.rcParams), pd=pd_opts, np=numpy.get_printoptions(), threads=torch.get_num_threads(), rng=torch.get_rng_state())
"""
_RESET = """
%reset -f
import os, sys, gc, random, warnings, matplotlib, matplotlib.pyplot, numpy, pandas, torch
_s = sys.modules['_nbouts_state']
os.environ.clear(); os.environ.update(_s.env); sys.path[:] = _s.path; warnings.filters[:] = _s.warnings
matplotlib.pyplot.close('all'); numpy.set_printoptions(**_s.np)
with warnings.catch_warnings(): warnings.simplefilter('ignore'); matplotlib.rcParams.update(_s.rc)
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    for k, v in _s.pd.items(): pandas.set_option(k, v)
torch.set_num_threads(_s.threads); torch.set_default_dtype(torch.float32); torch.set_grad_enabled(True); torch.set_printoptions(profile='default')
random.seed(0); numpy.random.seed(0); torch.set_rng_state(_s.rng)  # torch as a fresh kernel starts; the others start from entropy there
os.chdir({cwd!r}); del _s
gc.collect()
%reset -f
"""

def _run_code(client, code:str)->list:
    "Outputs of `code` run in `client`'s kernel, outside any notebook (nbclient writes a cell back into `client.nb`)"
    cell, saved = nbformat.v4.new_code_cell(code), client.nb
    client.nb = nbformat.v4.new_notebook(cells=[cell])
    try: client.execute_cell(cell, 0)
    finally: client.nb = saved
    return cell.outputs

class Kernel:
    "A Jupyter kernel that runs notebooks one after another, the namespace and global state reset before each"
    def __init__(self, variant:str='native', timeout:int=600):
        self.env, self.timeout, self.client, self._cm = _env(variant), timeout, None, None
    def _start(self, cwd:str):
        self.client = NotebookClient(nbformat.v4.new_notebook(), timeout=self.timeout, kernel_name='python3', allow_errors=False, record_timing=False)
        self._cm = self.client.setup_kernel(cwd=cwd, env=self.env)
        self._cm.__enter__()
        if self.env.get('NBOUTS_THREADS'): _run_code(self.client, _THREADS.format(n=self.env['NBOUTS_THREADS']))
        _run_code(self.client, _SNAPSHOT)
    def close(self):
        "Shut the kernel down"
        if self._cm is not None:
            with contextlib.suppress(Exception): self._cm.__exit__(None, None, None)
        self.client = self._cm = None
    def run(self, nb:nbformat.NotebookNode, path:Path, after:str|None=None)->list:
        "Execute the code cells of `nb` (read from `path`) in place; return the outputs of `after`, run at the end in the same namespace"
        if self.client is None: self._start(str(path.parent))
        _run_code(self.client, _RESET.format(cwd=str(path.parent)))
        self.client.nb, self.client._display_id_map = nb, {}
        try:
            for i, cell in enumerate(nb.cells):
                if cell.cell_type == 'code': cell.outputs = []
                if not _skip(cell): self.client.execute_cell(cell, i)
            return _run_code(self.client, after) if after else []
        except BaseException: self.close(); raise  # a failed or dead kernel is not reused
    def __enter__(self): return self
    def __exit__(self, *a): self.close()

def execute(path, timeout:int=600, variant:str='native', kernel:Kernel|None=None, after:str|None=None)->nbformat.NotebookNode:
    "A copy of notebook `path` with fresh outputs (export cells left unrun), run in `kernel` (default: a fresh one in `variant`)"
    path = Path(path).absolute()
    nb = nbformat.read(path, as_version=4)
    if kernel is not None: nb.metadata['nbouts_after'] = kernel.run(nb, path, after); return nb
    old_env = dict(os.environ)
    os.environ.update(_env(variant))
    try:
        with Kernel(variant, timeout) as k: nb.metadata['nbouts_after'] = k.run(nb, path, after)
    finally: os.environ.clear(); os.environ.update(old_env)
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
    nb.metadata.pop('nbouts_after', None)
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

def compare_cell(stored:list, fresh:list, varies:bool=False, rtol:float=0.05, atol:float=0.02, margin:list|None=None, random:bool=False)->str|None:
    "Why `stored` outputs are stale compared with `fresh` ones, or None if they agree; `margin` gets the closest number pair's share of its tolerance"
    a, b = _texts(stored), _texts(fresh)
    if not a and b: return 'output missing from the stored notebook'
    if a and not b: return 'stored output that the notebook no longer produces'
    if [k for k,_ in a] != [k for k,_ in b]: return f'kinds of output differ: stored {[k for k,_ in a]}, fresh {[k for k,_ in b]}'
    if random: return None
    for (_, x), (_, y) in zip(a, b):
        x, y = (_VERDICT.sub(lambda m: _NUM.sub('#', m.group()), t) for t in (x, y))  # verdicts compared without numbers
        # the same words in another order (two near-tied films swapping places on another CPU) agree; other words do not
        swapped = _skeleton(x) != _skeleton(y)
        if swapped and _words(x) != _words(y): return f'text differs: stored {x[:120]!r}, fresh {y[:120]!r}'
        if varies: continue
        nx, ny = (sorted(_numbers(x)), sorted(_numbers(y))) if swapped else (_numbers(x), _numbers(y))
        if margin is not None and nx: margin.append(max((abs(u-v)/(atol + rtol*abs(v)), u, v) for u, v in zip(nx, ny)))
        bad = [(u, v) for u, v in zip(nx, ny) if abs(u-v) > atol + rtol*abs(v)]
        if bad: return f'numbers differ: stored {bad[0][0]:g}, fresh {bad[0][1]:g}'
    return None

def check(path, variant:str='native', kernel:Kernel|None=None, after:str|None=None, after_outputs:list|None=None, near:list|None=None)->list:
    "Problems (one line each) with the stored outputs of notebook `path`, run in `kernel` (or a fresh one in `variant`); `after`'s outputs go to `after_outputs`"
    path = Path(path)
    stored, fresh = nbformat.read(path, as_version=4), execute(path, variant=variant, kernel=kernel, after=after)
    if after_outputs is not None: after_outputs.extend(fresh.metadata.get('nbouts_after', []))
    probs = []
    for i, (s, f) in enumerate(zip(stored.cells, fresh.cells)):
        if s.cell_type != 'code' or _skip(s): continue
        m, random = [], RANDOM in s.source
        why = compare_cell(s.outputs, f.outputs, varies=VARIES in s.source, margin=m, random=random)
        if random and not re.search(r'^\s*(assert |test_)', s.source, re.M): why = f"a `{RANDOM}` cell must assert what the prose claims of its output"
        where = f"{path.name} cell {i} ({s.get('id')}){'' if variant == 'native' else f' [{variant}]'}"
        if why: probs.append(f"{where}: {why}")
        elif near is not None and m and max(m)[0] >= 0.25: near.append(f"{where}: a number moved {max(m)[0]:.0%} of its tolerance (stored {max(m)[1]:g}, fresh {max(m)[2]:g})")
    return probs

_KERNEL = {}  # the one reused kernel of a `variants`/`check` worker process: {variant: Kernel}

def _check_job(fn:str, variant:str, reuse:bool, timeout:int)->tuple:
    "`(problems, near misses)` of one notebook as a job of `main`: in this process's kernel for `variant` (if `reuse`), failures as problem lines"
    near = []
    try:
        k = None
        if reuse:
            if variant not in _KERNEL:
                for o in _KERNEL.values(): o.close()
                _KERNEL.clear(); _KERNEL[variant] = Kernel(variant, timeout)
            k = _KERNEL[variant]
        return check(fn, variant, kernel=k, near=near), near
    except Exception as e:  # a cell raised (nbclient's CellExecutionError names the error), timed out, or the kernel died
        why = f"{e.ename}: {e.evalue}" if hasattr(e, 'ename') else (str(e).strip().splitlines() or [''])[0]
        return [f"{Path(fn).name}{'' if variant == 'native' else f' [{variant}]'}: {type(e).__name__}: {why[:300]}"], near

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('action', choices=['store', 'check', 'variants'], help='variants: check in every numeric environment of VARIANTS')
    p.add_argument('notebooks', nargs='+')
    p.add_argument('--variant', default='native', choices=list(VARIANTS), help='numeric environment of `check`')
    p.add_argument('--variants', default=','.join(VARIANTS), help='comma-separated environments for `variants`')
    p.add_argument('-j', '--jobs', type=int, default=1, help='notebooks run at the same time')
    p.add_argument('--fresh', action='store_true', help='a fresh kernel for every notebook (default: one reused kernel per job)')
    p.add_argument('--timeout', type=int, default=600, help='seconds allowed for one cell')
    a = p.parse_args(argv)
    if a.action == 'store':
        for fn in a.notebooks: print('stored', store(fn))
        return 0
    vs = a.variants.split(',') if a.action == 'variants' else [a.variant]
    if bad := [v for v in vs if v not in VARIANTS]: p.error(f"unknown variant {bad[0]!r}; choose from {', '.join(VARIANTS)}")
    runs, bad = [(fn, v) for v in vs for fn in a.notebooks], []
    with ProcessPoolExecutor(a.jobs, mp_context=mp.get_context('spawn')) as ex:  # a process each: `execute` sets os.environ
        n = len(runs)
        for (fn, v), (probs, near) in zip(runs, ex.map(_check_job, *zip(*runs), [not a.fresh]*n, [a.timeout]*n)):
            print(f"{'FAIL' if probs else 'ok  '} {v:15} {fn}", *probs, *[f'(near) {o}' for o in near], sep='\n    ', flush=True); bad += probs
    print(f"{len(bad)} problems in {len(runs)} runs" if bad else f"stored outputs are current ({len(runs)} runs)")
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
