"Every notebook in nbs/ executes top to bottom (nbdev's own test runner, in-process)."
from pathlib import Path
import pytest
from nbdev.test import test_nb as run_nb

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts and not p.name.startswith('_'))
# the exercise notebooks run in tests/test_classroom.py (their solution and student versions), not here

def test_found_notebooks(): assert len(NBS) >= 3, NBS

@pytest.mark.parametrize('nb', NBS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_runs(nb):
    ok, secs = run_nb(nb)
    assert ok, f"{nb.name} failed (traceback above, on stderr)"
