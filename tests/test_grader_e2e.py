"End to end (slow): every exercise's solution version and student version, graded through the sandbox as a class would hand them in."
import shutil

import pytest

from collab_nb.classroom.checks import EXERCISES
from collab_nb.classroom.grader import grade, sandbox_ok
from collab_nb.classroom.handout import build_exercises


@pytest.mark.slow
@pytest.mark.skipif(not sandbox_ok(), reason='bubblewrap cannot make a sandbox here')
def test_every_exercise_graded_through_the_sandbox(tmp_path):
    "The solution versions pass every exercise and the student versions fail each with the stub's sentence, judged through the sandbox"
    built = build_exercises(tmp_path/'handout')
    for who, version in (('teacher', 'solution'), ('student', 'student')): shutil.copytree(tmp_path/'handout'/version, tmp_path/'subs'/who)
    rows = grade(tmp_path/'subs', tmp_path/'grades.csv', timeout=900, n_jobs=2, cell_timeout=600)
    got = {(r['student'], r['exercise']): (r['status'], r['message']) for r in rows}
    assert {e for s, e in got if s == 'teacher'} == set(EXERCISES) == {e for s, e in got if s == 'student'}, rows
    bad = {k: v for k, v in got.items() if (v[0] != 'pass') == (k[0] == 'teacher')}
    assert not bad, bad
    assert all('is not written yet' in m for (s, _), (_, m) in got.items() if s == 'student')
    assert len(built['student']) == len({r['notebook'] for r in rows if r['student'] == 'student'})
