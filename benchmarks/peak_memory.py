"""Peak resident memory of one call, measured in a fresh process (Python keeps freed memory, so a second
measurement in the same process says little).

    from peak_memory import peak_memory
    peak_memory('collab_nb.lean:read_ratings_lean', 'ratings.csv')   # {'extra_mb': …, 'seconds': …, …}

The child imports the function's module (and `preload`), resets the kernel's high-water mark of its resident memory
(/proc/self/clear_refs), calls the function and reads the new mark: the *extra* memory the call needed beyond the
imported libraries. tracemalloc would miss what pandas' C parser and PyTorch allocate.
"""
import importlib
import json
import resource
import subprocess
import sys
import time


def _kb(key):
    for l in open('/proc/self/status'):
        if l.startswith(key): return int(l.split()[1])

def _child(spec, args, kwargs, preload):
    "Runs in the fresh process: the measurement itself"
    for m in preload: importlib.import_module(m)
    mod, name = spec.split(':')
    f = getattr(importlib.import_module(mod), name)
    try:
        with open('/proc/self/clear_refs', 'w') as fh: fh.write('5')
        reset = True
    except OSError: reset = False
    base, t0 = _kb('VmRSS:'), time.perf_counter()
    res = f(*args, **kwargs)
    secs = time.perf_counter() - t0
    peak = _kb('VmHWM:') if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return dict(base_mb=base/1024, peak_mb=peak/1024, extra_mb=(peak-base)/1024, seconds=secs, reset=reset,
                result=res if isinstance(res, (dict, list, int, float, str)) else repr(res))

def peak_memory(spec:str, *args, preload:tuple=(), **kwargs)->dict:
    "Run `spec` ('module:function') with JSON-able arguments in a new process; its extra peak memory in MiB, and seconds"
    p = subprocess.run([sys.executable, __file__, json.dumps([spec, args, kwargs, list(preload)])], capture_output=True, text=True)
    if p.returncode: raise RuntimeError(f"{spec} failed in the child process:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])

if __name__ == '__main__': print('\n' + json.dumps(_child(*json.loads(sys.argv[1]))))
