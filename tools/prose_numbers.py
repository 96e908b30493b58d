"""Numbers in a lesson's prose that none of its stored outputs shows.

    python tools/prose_numbers.py nbs/0*.ipynb      # list them, lesson by lesson

A number with two or more decimals in a markdown cell (`0.8098`, `0.89`, `1.25`) is *backed* when some stored output
of the same notebook holds a number that, rounded to as many decimals as the prose gives, is the prose's number
(`0.809807` backs `0.8098` and `0.81`); a percentage (`12.5%`) is backed by an output of the same percentage or of
the fraction (`0.125`). A number written in a code cell of the notebook as it is in the prose (an input such as a
learning rate, or the bound of an `assert` that the run checks) backs it too. Numbers inside code spans of the prose
(`lr=5e-3`, `` `0.05` ``) are not read.
`tests/test_prose_numbers.py` keeps the few inputs and cited figures that prose may name without an output.
"""
import json
import re
import sys
from pathlib import Path

_NUM = re.compile(r'(?<![\w.])(\d+\.\d{2,})(%?)(?![\w.]*\d)')
_OUT_NUM = re.compile(r'[-+]?\d*\.\d+(?:[eE][-+]?\d+)?|[-+]?\d+(?:[eE][-+]?\d+)?')
_CODE = re.compile(r'```.*?```|`[^`]*`', re.S)

def _text(o:dict)->str:
    "The text of one stored output (stream, result or display; plots have none)"
    if o.get('output_type') == 'stream': t = o.get('text', '')
    else: t = o.get('data', {}).get('text/plain', '')
    return ''.join(t) if isinstance(t, list) else t

def output_numbers(nb:dict)->list:
    "Every number printed by the notebook's stored outputs"
    res = []
    for c in nb['cells']:
        for o in c.get('outputs', []) if c['cell_type'] == 'code' else []:
            res += [float(m) for m in _OUT_NUM.findall(_text(o).replace(',', ''))]
    return res

def prose_numbers(nb:dict)->list:
    "`(number as written, is a percentage, its sentence)` for each number with two or more decimals in the markdown"
    res = []
    for c in nb['cells']:
        if c['cell_type'] != 'markdown': continue
        src = _CODE.sub(' ', ''.join(c['source']) if isinstance(c['source'], list) else c['source'])
        for m in _NUM.finditer(src):
            a, b = max(0, m.start()-60), m.end()+40
            res.append((m.group(1), bool(m.group(2)), ' '.join(src[a:b].split())))
    return res

def _backs(v:float, written:str, pct:bool)->bool:
    d = len(written.split('.')[1])
    target = float(written)
    cands = [v, v*100] if pct else [v]
    return any(abs(round(c, d) - target) < 10**-(d+3) for c in cands)

def _in_code(nb:dict)->set:
    "Numbers as written in the notebook's code cells"
    src = '\n'.join(''.join(c['source']) if isinstance(c['source'], list) else c['source'] for c in nb['cells'] if c['cell_type'] == 'code')
    return set(re.findall(r'\d+\.\d+', src))

def unbacked(path)->list:
    "`(number, sentence)` for each number of `path`'s prose that no stored output of `path` shows, rounded as written"
    nb = json.loads(Path(path).read_text())
    outs, code = output_numbers(nb), _in_code(nb)
    return [(w, ctx) for w, pct, ctx in prose_numbers(nb) if w not in code and not any(_backs(v, w, pct) for v in outs)]

def main(argv=None):
    total = bad = 0
    for fn in (sys.argv[1:] if argv is None else argv):
        nb = json.loads(Path(fn).read_text())
        miss = unbacked(fn); total += len(prose_numbers(nb)); bad += len(miss)
        for w, ctx in miss: print(f"{Path(fn).stem}: {w}  …{ctx}…")
    print(f"{bad} of {total} numbers in the prose have no output behind them")
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
