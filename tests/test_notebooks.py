"""Every notebook in nbs/, and every exercise source in collab_nb/classroom/exercises/, executes top to bottom in a
Jupyter kernel, and its stored outputs are current.

The notebooks are stored executed (a reader on GitHub sees every result; the solution versions of the exercises keep
the outputs, the student versions are handed out without them). Each test re-runs one notebook and compares
the fresh outputs with the stored ones (`tools/nbouts.py`): a missing or extra output, a different kind of output,
different text, or numbers that moved by more than a tolerance fail the test. After changing a lesson, store it again:
`python tools/nbouts.py store nbs/NN_lesson.ipynb` (or `collab_nb/classroom/exercises/NN_lesson.ipynb`)."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from nbouts import check, compare_cell

NBS = sorted(p for p in [*(ROOT/'nbs').glob('*.ipynb'), *(ROOT/'nbs'/'reference').glob('*.ipynb')] if not p.name.startswith('_'))
# the exercise sources (with their solutions) run here too; tests/test_classroom.py judges the exercises of their solution
# versions in-process and checks that the student versions fail with the stub message
EXERCISES = sorted(p for p in (ROOT/'collab_nb'/'classroom'/'exercises').glob('*.ipynb') if not p.name.startswith(('_', '.')))

def test_found_notebooks(): assert len(NBS) >= 10 and len(EXERCISES) >= 7, (NBS, EXERCISES)

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

@pytest.mark.parametrize('nb', NBS + EXERCISES, ids=lambda p: p.relative_to(ROOT/'nbs').as_posix() if p.is_relative_to(ROOT/'nbs') else f'exercises/{p.name}')
def test_notebook_outputs_current(nb):
    probs = check(nb)
    assert not probs, '\n'.join(probs)
