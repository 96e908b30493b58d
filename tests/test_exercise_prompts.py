"The exercise prompts make students think: no solution text in the prose, a prediction asked before an experiment, facts checked."
import json, re
from pathlib import Path
import pytest
from collab_nb.classroom.handout import exercises_dir

NBS = sorted(Path(exercises_dir()).glob('*.ipynb'))

def _cells(p): return json.loads(p.read_text())['cells']
def _md(p): return '\n'.join(''.join(c['source']) for c in _cells(p) if c['cell_type'] == 'markdown')

def _solution_lines(p):
    "Code lines between BEGIN and END SOLUTION markers"
    res = []
    for c in _cells(p):
        m = re.search(r'### BEGIN SOLUTION\n(.*?)### END SOLUTION', ''.join(c['source']), re.S)
        if m: res += [l.strip() for l in m.group(1).splitlines() if len(l.strip()) > 12]
    return res

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_prompts_hand_out_no_solution(nb):
    md = _md(nb)
    assert _solution_lines(nb), f"{nb.name} has no solution cells"
    leaked = [l for l in _solution_lines(nb) if l in md]
    assert not leaked, f"{nb.name}: the prose gives away {leaked}"

@pytest.mark.parametrize('nb', [p for p in NBS if not p.stem.startswith('00_')], ids=lambda p: p.stem)
def test_experiments_ask_for_a_prediction(nb):
    assert 'Predict before you run' in _md(nb), f"{nb.name}: no predict-then-run experiment"

def test_emb_sz_table_is_fastais():
    from fastai.tabular.model import emb_sz_rule
    md = _md(Path(exercises_dir())/'04_collab_nn.ipynb')
    rows = [l for l in md.splitlines() if l.startswith('| ')]
    ns = [int(x.replace(',', '')) for x in rows[0].split('|')[2:-1]]
    sizes = [int(x) for x in rows[1].split('|')[2:-1]]
    assert len(ns) == 5 and [emb_sz_rule(n) for n in ns] == sizes
