"""Every notebook in nbs/ executes top to bottom in a Jupyter kernel, and its stored outputs are current.

The notebooks are stored executed (a reader on GitHub sees every result). Each test re-runs one notebook and compares
the fresh outputs with the stored ones (`tools/nbouts.py`): a missing or extra output, a different kind of output,
different text, or numbers that moved by more than a tolerance fail the test. After changing a lesson, store it again:
`python tools/nbouts.py store nbs/NN_lesson.ipynb`."""
import sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from nbouts import check, compare_cell

NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
# the exercise notebooks run in tests/test_classroom.py (their solution and student versions), not here

def test_found_notebooks(): assert len(NBS) >= 10, NBS

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

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_notebook_outputs_current(nb):
    probs = check(nb)
    assert not probs, '\n'.join(probs)
