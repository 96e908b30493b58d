"The grader's parts that need no sandbox: reading submissions, finding what to judge, the class sheet, `--unsafe`, what is hidden."
import csv
import json
from pathlib import Path

import nbformat
import pytest

import collab_nb.classroom.grader as grader
from collab_nb.classroom.checks import lesson_exercises


def _nb(path:Path, *cells, lesson='01_lookup'):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata['collab_nb'] = dict(lesson=lesson)
    path.parent.mkdir(parents=True, exist_ok=True); nbformat.write(nb, path)
    return nb

def test_grade_finds_what_to_judge(tmp_path):
    "The grader judges the function each check cell names; a deleted check cell, or one not called on a name, is missing"
    nb = _nb(tmp_path/'a.ipynb', 'def match_scores(u, i): return (u*i).sum(1)', 'check_match_scores(match_scores)', 'check_one_hot_lookup(lambda idx, w: w[idx])')
    calls = grader.check_cells(nb)
    assert calls == dict(match_scores=(1, 'match_scores'), one_hot_lookup=(2, None))
    nb.cells = nb.cells[2:]
    res = grader._verdicts('01_lookup', grader.check_cells(nb), None, 'ok', 10, None)  # nothing is left to ask the kernel
    assert {k: st for k, (st, _) in res.items()} == dict(one_hot_lookup='missing', match_scores='missing')
    assert 'by name' in res['one_hot_lookup'][1] and 'no `check_match_scores(...)` cell' in res['match_scores'][1]

def test_bad_submissions_are_named(tmp_path):
    "Not JSON, a cell source that is a number, too large, a link: a `ValueError` that names the file; a notebook of no lesson: the same"
    (tmp_path/'broken.ipynb').write_text('{"cells": [')
    (tmp_path/'number.ipynb').write_text(json.dumps(dict(nbformat=4, nbformat_minor=5, metadata={}, cells=[dict(cell_type='code', id='a', source=42, metadata={}, outputs=[], execution_count=None)])))
    (tmp_path/'huge.ipynb').write_bytes(b' ' * (grader.wire.MAX_NOTEBOOK + 1))
    (tmp_path/'link.ipynb').symlink_to(tmp_path/'number.ipynb')
    for name, words in (('broken', 'is not a valid notebook'), ('number', 'is not a valid notebook'), ('huge', 'over the limit'), ('link', 'symbolic link')):
        with pytest.raises(ValueError, match=f'{name}.ipynb.*{words}|{words}') as e: grader.load_submission(tmp_path/f'{name}.ipynb')
        assert f'{name}.ipynb' in str(e.value)
    _nb(tmp_path/'homework.ipynb', '1', lesson=None)
    rows = grader.grade_notebook(tmp_path/'homework.ipynb')
    assert [(r['status'], r['exercise']) for r in rows] == [('error', '')] and 'homework.ipynb: cannot tell which lesson' in rows[0]['message']

def test_sheet_written_as_notebooks_finish(tmp_path, monkeypatch):
    "Each finished notebook's rows are on the sheet at once (atomically), so they survive a grader that is stopped before the end"
    for s in ('ann', 'bob', 'cat'): _nb(tmp_path/'subs'/s/'01_lookup.ipynb', '1')
    def fake(nb_path, student=None, **kw):
        if student == 'bob': raise KeyboardInterrupt   # the grader is stopped while it grades bob
        return [dict(student=student, lesson='01_lookup', notebook=Path(nb_path).name, exercise=e, status='pass', score=1, message='=1+1', seconds=0) for e in lesson_exercises('01_lookup')]
    monkeypatch.setattr(grader, 'grade_notebook', fake)
    monkeypatch.setattr(grader, 'sandbox_ok', lambda: True)
    with pytest.raises(KeyboardInterrupt): grader.grade(tmp_path/'subs', tmp_path/'grades.csv', n_jobs=1)
    rows = list(csv.DictReader(open(tmp_path/'grades.csv')))
    assert [(r['student'], r['exercise']) for r in rows] == [('ann', e) for e in lesson_exercises('01_lookup')]
    assert rows[0]['message'] == "'=1+1" and list(rows[0]) == grader.GRADE_FIELDS   # a formula a spreadsheet would run is quoted
    assert not [p for p in tmp_path.iterdir() if p.name.endswith('.tmp')]

def test_one_failing_notebook_is_its_own_error_row(tmp_path, monkeypatch):
    "Whatever goes wrong while grading one notebook (here: the judging itself) becomes that notebook's error row, naming it"
    _nb(tmp_path/'subs'/'ann'/'01_lookup.ipynb', '1')
    def boom(*a, **k): raise RuntimeError('the judge fell over')
    monkeypatch.setattr(grader, '_run_and_judge', boom)
    rows = grader.grade(tmp_path/'subs', tmp_path/'g.csv', unsafe=True)
    assert [(r['student'], r['status']) for r in rows] == [('ann', 'error')] and '01_lookup.ipynb: the grader failed' in rows[0]['message']

def test_unsafe_says_what_is_not_contained(tmp_path, capsys):
    "`unsafe=True` (`--unsafe`) prints one warning line saying what is not contained"
    _nb(tmp_path/'subs'/'x.ipynb', '1', lesson=None)
    grader.grade(tmp_path/'subs', None, unsafe=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('warning: --unsafe') and all(w in err[0] for w in ('as you', 'files', 'network', 'memory', 'processes', 'disk'))
    grader.grade(tmp_path/'subs', None, unsafe=False) if grader.sandbox_ok() else None
    assert capsys.readouterr().err == ''

def test_every_copy_of_the_solutions_is_hidden(tmp_path):
    "Inside the folders a graded notebook sees, every copy of the exercise sources is hidden: the package's, and any in a site-packages folder"
    sp = tmp_path/'site-packages'
    (sp/'collab_nb'/'classroom'/'exercises').mkdir(parents=True)
    hidden = grader._hidden([*grader._shown(), sp], [tmp_path/'submissions', sp/'collab_nb'])
    assert grader.exercises_dir().resolve() in hidden and (sp/'collab_nb'/'classroom'/'exercises').resolve() in hidden
    assert (sp/'collab_nb').resolve() in hidden and (tmp_path/'submissions').resolve() not in hidden   # only what is shown needs hiding
