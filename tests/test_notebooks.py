"""Every notebook in nbs/ and nbs/reference/, and every exercise source in collab_nb/classroom/exercises/, executes top
to bottom in a Jupyter kernel, and its stored outputs are current.

The notebooks are stored executed (a reader on GitHub sees every result; the solution versions of the exercises keep
the outputs, the student versions are handed out without them). Each test re-runs one notebook and compares
the fresh outputs with the stored ones (`tools/nbouts.py`): a missing or extra output, a different kind of output,
different text, or numbers that moved by more than a tolerance fail the test. After changing a lesson, store it again:
`python tools/nbouts.py store nbs/NN_lesson.ipynb` (or `collab_nb/classroom/exercises/NN_lesson.ipynb`).

Each pytest worker keeps one kernel and runs its notebooks in it one after another, the namespace and the global
state that notebooks change reset in between (`nbouts.Kernel`): importing torch and fastai once per worker instead of
once per notebook. `store` and `python tools/nbouts.py variants` use a fresh kernel per notebook, so a notebook that
leaned on another's leftovers would fail there. An exercise source, once run, has every exercise judged in the same
kernel as the grader judges it (`collab_nb.classroom.judge.judge`): each must pass.

The notebooks whose re-run takes most of a minute are marked `slow` (CI runs `pytest -m slow` after the fast suite)."""
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from nbouts import Kernel, check, compare_cell

NBS = sorted(p for p in [*(ROOT/'nbs').glob('*.ipynb'), *(ROOT/'nbs'/'reference').glob('*.ipynb')] if not p.name.startswith('_'))
EXERCISES = sorted(p for p in (ROOT/'collab_nb'/'classroom'/'exercises').glob('*.ipynb') if not p.name.startswith(('_', '.')))
# re-runs that take 25 s or more on these 2-core machines (the rest take a few seconds each)
SLOW = {'02_dot_product', '04_collab_nn', '05_metrics', '05b_choosing', '05c_time', '07_ranking', '07b_baselines', '08_svdpp', '08b_bayes', '10_scale', 'reference/grader',
        'exercises/08_svdpp'}

def _id(p:Path)->str:
    return p.relative_to(ROOT/'nbs').with_suffix('').as_posix() if p.is_relative_to(ROOT/'nbs') else f'exercises/{p.stem}'

def _params(paths): return [pytest.param(p, id=_id(p), marks=[pytest.mark.slow] if _id(p) in SLOW else []) for p in paths]

def test_found_notebooks():
    assert len(NBS) >= 10 and len(EXERCISES) >= 7, (NBS, EXERCISES)
    assert SLOW <= {_id(p) for p in NBS + EXERCISES}, SLOW - {_id(p) for p in NBS + EXERCISES}

def _out(text): return [{'output_type': 'execute_result', 'data': {'text/plain': text}, 'metadata': {}, 'execution_count': 1}]

def test_comparison_catches_stale_outputs():
    assert compare_cell(_out('mse 0.8098'), _out('mse 0.8101')) is None            # within tolerance
    assert 'numbers differ' in compare_cell(_out('mse 0.8098'), _out('mse 0.95'))
    assert 'missing' in compare_cell([], _out('1'))
    assert 'no longer' in compare_cell(_out('1'), [])
    assert 'text differs' in compare_cell(_out('Titanic (1997)'), _out('Heat (1995)'))
    assert compare_cell(_out('took 3.1 s'), _out('took 9.9 s'), varies=True) is None
    assert compare_cell(_out('0 Heat (1995)\n1 Fargo (1996)'), _out('0 Fargo (1996)\n1 Heat (1995)')) is None  # a near tie swapped
    assert 'text differs' in compare_cell(_out('0 Heat (1995)\n1 Fargo (1996)'), _out('0 Fargo (1996)\n1 Ghost (1990)'))
    # a checker's verdict describes its fresh random inputs: compared without numbers, but still by its words
    verdict = lambda t: [{'output_type': 'stream', 'name': 'stdout', 'text': t}]
    assert compare_cell(verdict('✓ match_scores: correct (a batch of 9 pairs)\n'), verdict('✓ match_scores: correct (a batch of 4 pairs)\n')) is None
    assert 'text differs' in compare_cell(verdict('✓ match_scores: correct (a batch of 9 pairs)\n'), verdict('✓ cosine_sim: correct (9 rows)\n'))
    assert 'numbers differ' in compare_cell(verdict('✓ f: correct (3 rows)\nmse 0.81\n'), verdict('✓ f: correct (4 rows)\nmse 0.95\n'))
    # a random sample (a chain's top films) is compared by kind only; a plot where text was is still caught
    assert compare_cell(_out('0 Heat (1995) 0.71'), _out('0 Ghost (1990) 0.64'), random=True) is None
    assert 'kinds of output differ' in compare_cell(_out('0 Heat (1995)'), [{'output_type': 'display_data', 'data': {'image/png': ''}}], random=True)

@pytest.fixture(scope='session')
def kernel():
    "One kernel per pytest worker, shared by its notebook runs"
    with Kernel() as k: yield k

def test_reused_kernel_starts_each_notebook_afresh(kernel, tmp_path):
    "What one notebook leaves behind (names, options, the working folder, torch's generator) the next does not see"
    import nbformat
    mk = lambda *src: nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in src])
    (tmp_path/'a').mkdir(); (tmp_path/'b').mkdir()
    a, b = tmp_path/'a'/'a.ipynb', tmp_path/'b'/'b.ipynb'
    nbformat.write(mk("import torch, pandas as pd, os; leftover = 1; pd.set_option('display.max_rows', 3); os.environ['LEFT'] = '1'; torch.rand(5)"), a)
    probe = "import os, torch, pandas as pd\nprint('leftover' in dir(), pd.get_option('display.max_rows'), 'LEFT' in os.environ, os.getcwd(), torch.rand(1).item())"
    nbformat.write(mk(probe), b)
    first = kernel.run(nbformat.read(b, as_version=4), b, after=probe)
    kernel.run(nbformat.read(a, as_version=4), a)
    out = kernel.run(nbformat.read(b, as_version=4), b, after=probe)
    assert out[0]['text'] == first[0]['text']
    leftover, rows, env, cwd, r = out[0]['text'].split()
    assert (leftover, env, cwd) == ('False', 'False', str(tmp_path/'b')) and rows != '3', out[0]['text']

_CHECK = re.compile(r'\bcheck_(\w+)\s*\(\s*([A-Za-z_]\w*)\s*\)')

def _judge_code(nb:Path)->str:
    "Code that judges, in the kernel that ran exercise source `nb`, each exercise on the function its check cell names"
    calls = {}
    for c in json.loads(nb.read_text())['cells']:
        if c['cell_type'] == 'code':
            for m in _CHECK.finditer(''.join(c['source'])): calls.setdefault(m.group(1), m.group(2))
    return ("import json\nfrom collab_nb.classroom.judge import judge\n"
            f"print(json.dumps({{e: judge(e, globals()[n]) for e, n in {calls!r}.items()}}))")

@pytest.mark.parametrize('nb', _params(NBS))
def test_notebook_outputs_current(nb, kernel):
    probs = check(nb, kernel=kernel)
    assert not probs, '\n'.join(probs)

@pytest.mark.parametrize('nb', _params(EXERCISES))
def test_exercise_source_current_and_every_exercise_passes(nb, kernel):
    from collab_nb.classroom.checks import lesson_exercises
    verdicts = []
    probs = check(nb, kernel=kernel, after=_judge_code(nb), after_outputs=verdicts)
    assert not probs, '\n'.join(probs)
    res = json.loads(verdicts[0]['text'])
    assert sorted(res) == sorted(lesson_exercises(nb.stem)), (sorted(res), lesson_exercises(nb.stem))
    assert all(st == 'pass' for st, _ in res.values()), {e: v for e, v in res.items() if v[0] != 'pass'}

def test_random_cell_must_assert_its_claims(kernel, tmp_path):
    "A `# nbcheck: random` cell is compared by kind only, so a run where it asserts nothing is a problem"
    import nbformat
    from nbouts import execute
    p = tmp_path/'r.ipynb'
    for src, ok in (("# nbcheck: random\nimport torch\nprint(torch.randn(3))", False),
                    ("# nbcheck: random\nimport torch\nx = torch.randn(3)\nassert x.shape == (3,)\nprint(x)", True)):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src)]), p)
        nbformat.write(execute(p, kernel=kernel), p)  # stored as run
        probs = check(p, kernel=kernel)
        assert (probs == []) == ok and all('must assert' in o for o in probs), probs
