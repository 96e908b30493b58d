"The classroom: checkers (one module per lesson), student/solution versions, and the course site. The grader: tests/test_grader_*.py."
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

# collab_nb.lookup is imported before any check, as a student's notebook would: a module first imported inside a trapped
# call is reported by the first of its trapped names (see `traps`), which made one case depend on the order of the tests
import collab_nb.lookup  # noqa: F401
from collab_nb.classroom import grader, site
from collab_nb.classroom.checks import EXERCISES, LESSONS, ExerciseError, lesson_exercises
from collab_nb.classroom.handout import SOL_BEGIN, STUB, YOUR_ANSWER, build_exercises, drop_markers, exercise_sources
from collab_nb.classroom.judge import judge

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp('handout')
    build_exercises(d)
    return d

def test_every_lesson_has_exercises_and_sources():
    "Lesson ids are the lesson notebooks' names; each has its exercise notebook, its checkers' module and their reference notebook"
    test_lessons = sorted({v['lesson'] for v in EXERCISES.values()})
    assert test_lessons == sorted(LESSONS) == [p.stem for p in exercise_sources()]
    for l, mod in LESSONS.items():
        assert (ROOT/'nbs'/f'{l}.ipynb').exists(), l
        assert (ROOT/'nbs'/'reference'/f'checks_{l}.ipynb').exists() and (ROOT/'collab_nb'/'classroom'/'checks'/f'{mod}.py').exists(), l
        assert {v['module'] for k, v in EXERCISES.items() if v['lesson'] == l} == {f'collab_nb.classroom.checks.{mod}'}
    for p in exercise_sources():
        src = p.read_text()
        for name in lesson_exercises(p.stem): assert f'check_{name}(' in src, (p.name, name)
        assert src.count('**Model answer') >= 4, p.name

def test_checkers_importable_from_the_package():
    "What the exercise notebooks import: every checker from `collab_nb.classroom.checks`, and nothing private with `*`"
    ns = {}
    exec('from collab_nb.classroom.checks import *', ns)
    assert {f'check_{k}' for k in EXERCISES} <= set(ns) and {'EXERCISES', 'ExerciseError', 'lesson_exercises'} <= set(ns)
    assert not [k for k in ns if k.startswith('_') and k != '__builtins__']
    from collab_nb.classroom.checks import check_fold_in, check_row_l2
    assert check_fold_in.lesson == '06_recommend' and check_row_l2.lesson == '09_fast'

def test_no_module_imports_anothers_private_names():
    "Modules of the classroom import only public names from each other (issue 23: `grader`/`site` imported `_first_line`)"
    bad = []
    for p in (ROOT/'collab_nb'/'classroom').rglob('*.py'):
        for m in re.finditer(r'^from (\.\S*|collab_nb\S*) import (.+)$', p.read_text(), re.M):
            bad += [f'{p.name}: {n.strip()}' for n in m.group(2).split(',') if n.strip().startswith('_')]
    assert not bad, bad

def test_build_versions(built):
    for l in LESSONS:
        stu, sol = (nbformat.read(built/v/f'{l}.ipynb', as_version=4) for v in ('student', 'solution'))
        stu_src, sol_src = (json.dumps([c.source for c in nb.cells]) for nb in (stu, sol))
        assert 'BEGIN SOLUTION' not in stu_src + sol_src and 'END SOLUTION' not in stu_src + sol_src
        assert 'Model answer' not in stu_src and 'Model answer' in sol_src
        stu_code, sol_code = ('\n'.join(c.source for c in nb.cells if c.cell_type == 'code') for nb in (stu, sol))
        assert stu_code.count(STUB) == len(lesson_exercises(l)) and 'NotImplementedError' not in sol_code
        assert stu_src.count(YOUR_ANSWER) == sol_src.count('Model answer')
        assert all(not c.get('outputs') for c in stu.cells if c.cell_type == 'code')
        assert stu.metadata.collab_nb == dict(lesson=l, version='student') and sol.metadata.collab_nb['version'] == 'solution'
        # the solution code of each block is gone from the student version
        src = nbformat.read(ROOT/'collab_nb'/'classroom'/'exercises'/f'{l}.ipynb', as_version=4)
        for c in src.cells:
            if SOL_BEGIN not in c.source: continue
            first = c.source.split(SOL_BEGIN)[1].splitlines()[1].strip()
            assert first and first not in stu_src and first in sol_src, first

def test_solution_versions_are_the_sources(built):
    """Each solution version's code cells are its source's, with the solution-marker lines removed: judging the source (which
    tests/test_notebooks.py does, in the kernel that checks its stored outputs) judges the solution version"""
    for p in exercise_sources():
        src, sol = nbformat.read(p, as_version=4), nbformat.read(built/'solution'/p.name, as_version=4)
        assert [drop_markers(c.source) for c in src.cells if c.cell_type == 'code'] == [c.source for c in sol.cells if c.cell_type == 'code'], p.name
        assert [c.source for c in src.cells if c.cell_type == 'markdown'] == [c.source for c in sol.cells if c.cell_type == 'markdown'], p.name
        assert sum(SOL_BEGIN in c.source for c in src.cells) == len(lesson_exercises(p.stem)), p.name

def _needed_cells(nb)->list:
    "The code cells a student version needs to define its exercises: the stubbed ones, and those that only import"
    imports = lambda s: all(l.startswith(('import ', 'from ', '#')) or not l.strip() for l in s.splitlines())
    return [c.source for c in nb.cells if c.cell_type == 'code' and (STUB in c.source or imports(c.source))]

def test_student_versions_fail_with_stub_message(built):
    "Each exercise of each student version, judged on the function its check cell names, fails with the stub's sentence"
    res = {}
    for l in LESSONS:
        nb, ns = nbformat.read(built/'student'/f'{l}.ipynb', as_version=4), {'__name__': '__main__'}
        for src in _needed_cells(nb): exec(compile(src, l, 'exec'), ns)
        res.update({e: judge(e, ns[name]) for e, (_, name) in grader.check_cells(nb).items()})
    assert set(res) == set(EXERCISES)
    for name, (st, msg) in res.items():
        assert st == 'fail' and 'is not written yet' in msg and 'replace this line with your solution' in msg, (name, msg)

# --- deliberately wrong answers get the specific sentence -------------------------------------------------------
from fastai.layers import sigmoid_range


def _fwd(self, x, ub=True, ib=True, squash=True, bias_cols=False):
    u, i = x[:,0], x[:,1]
    res = (self.user_factors(u)*self.item_factors(i)).sum(1)
    if ub: res = res + (self.user_bias(u) if bias_cols else self.user_bias(u)[:,0])
    if ib: res = res + (self.item_bias(i) if bias_cols else self.item_bias(i)[:,0])
    return sigmoid_range(res, *self.y_range) if squash else res

def _step(model, x, y, lr, wd, form='loss', zero=True):
    loss = F.mse_loss(model(x), y) + (wd*sum((p**2).sum() for p in model.parameters()) if form=='loss' else 0)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr*(p.grad + (wd*p if form=='grad' else 0))
            if zero: p.grad.zero_()

def _nn_fwd(self, x, squash=True):
    res = self.layers(torch.cat([self.user_factors(x[:,0]), self.item_factors(x[:,1])], 1))[:,0]
    return sigmoid_range(res, *self.y_range) if squash else res

def _top_incl_na(scores, rated, n):
    s = scores.clone(); s[rated] = -float('inf')
    return s.topk(n).indices

def _fold(fac, bias, items, ratings, wd):
    Fm = fac[items]
    return torch.linalg.solve(Fm.T@Fm + wd*torch.eye(Fm.shape[1]), Fm.T@(ratings-bias[items]))

WRONG = [
    ('ratings_density', lambda df: len(df)/(df.user.max()*df.movie.max()), 'you divided by the largest ids'),
    ('ratings_density', lambda df: 1-len(df)/(df.user.nunique()*df.movie.nunique()), 'fraction of empty cells'),
    ('encode_ids', lambda ids, cl: torch.tensor([cl.index(o)-1 for o in ids]), 'off by one'),
    ('encode_ids', lambda ids, cl: torch.tensor([cl.index(o) for o in ids]), "unknown ids must map to 0 ('#na#') instead of raising ValueError"),
    ('one_hot_lookup', lambda i, w: F.one_hot(i, w.shape[0]).float() @ w.detach(), 'no gradient reaches `weight`'),
    ('one_hot_lookup', lambda i, w: (F.one_hot(i, w.shape[0]).float() @ w).T, 'transposed'),
    ('one_hot_lookup', lambda i, w: F.one_hot(i, w.shape[0]) @ w, 'raised RuntimeError'),
    ('match_scores', lambda u, i: u @ i.T, 'every user against every item'),
    ('match_scores', lambda u, i: (u*i).sum(0), 'you summed over the batch'),
    ('match_scores', lambda u, i: u*i, 'forgot to add them up'),
    ('sigmoid_range', lambda x, lo, hi: torch.sigmoid(x)*(hi-lo), 'add `lo`'),
    ('sigmoid_range', lambda x, lo, hi: x*(hi-lo)+lo, 'apply `torch.sigmoid` first'),
    ('dot_product_bias_forward', lambda s, x: _fwd(s, x, ub=False, ib=False), 'you forgot both biases'),
    ('dot_product_bias_forward', lambda s, x: _fwd(s, x, ib=False), 'you forgot the item bias'),
    ('dot_product_bias_forward', lambda s, x: _fwd(s, x, ub=False), 'you forgot the user bias'),
    ('dot_product_bias_forward', lambda s, x: _fwd(s, x, squash=False), 'forgot to squash'),
    ('dot_product_bias_forward', lambda s, x: _fwd(s, x, bias_cols=True), 'broadcast'),
    ('dot_product_bias_forward', lambda s, x: _fwd(s, x).detach(), 'detached'),
    ('sgd_step', lambda m, x, y, lr, wd: _step(m, x, y, lr, 0.), 'ignores weight decay'),
    ('sgd_step', lambda m, x, y, lr, wd: _step(m, x, y, lr, wd, form='grad'), 'whose gradient is `2 * wd * p`'),
    ('sgd_step', lambda m, x, y, lr, wd: _step(m, x, y, -lr, wd), 'moved uphill'),
    ('sgd_step', lambda m, x, y, lr, wd: _step(m, x, y, lr, wd, zero=False), 'zero the gradients'),
    ('sgd_step', lambda m, x, y, lr, wd: F.mse_loss(m(x), y), 'did not change'),
    ('cosine_sim', lambda v, m: m@v, 'that is the dot product'),
    ('cosine_sim', lambda v, m: (m@v)/m.norm(dim=1), 'length of `v` too'),
    ('most_similar', lambda f, i, n: F.cosine_similarity(f, f[i][None], dim=1).topk(n).indices, 'includes the query item itself'),
    ('most_similar', lambda f, i, n: torch.cat([f[:i]@f[i], torch.tensor([-1e9]), f[i+1:]@f[i]]).topk(n).indices, 'raw dot product'),
    ('most_similar', lambda f, i, n: torch.cat([f[:i]@f[i], torch.tensor([-1e9]), f[i+1:]@f[i]]).topk(n), 'just its `.indices`'),
    ('emb_sz_rule', lambda n: round(1.6*n**0.56), 'no cap'),
    ('emb_sz_rule', lambda n: min(600, 1.6*n**0.56), 'round it'),
    ('emb_sz_rule', lambda n: min(600, int(1.6*n**0.56)), 'truncated instead of rounding'),
    ('collab_nn_forward', lambda s, x: _nn_fwd(s, x[:,[1,0]]), 'raised'),
    ('collab_nn_forward', lambda s, x: _nn_fwd(s, x, squash=False), 'forgot to squash'),
    ('top_n_unrated', lambda s, r, n: s.topk(n).indices, 'already rated'),
    ('top_n_unrated', _top_incl_na, "index 0, the '#na#' placeholder"),
    ('top_n_unrated', lambda s, r, n: _top_incl_na(s, torch.cat([r, torch.tensor([0])]), n).flip(0), 'wrong order'),
    ('fold_in', lambda f, b, i, r, wd: _fold(f, torch.zeros_like(b), i, r, wd), 'ignored the item biases'),
    ('fold_in', lambda f, b, i, r, wd: _fold(f, b, i, r, 0.), 'forgot the penalty'),
    ('fold_in', lambda f, b, i, r, wd: _fold(f, b, i, r, wd)[None], None),  # (1, k) is accepted
]

@pytest.mark.parametrize('name,f,msg', WRONG, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(WRONG)])
def test_wrong_answer_feedback(name, f, msg, capsys):
    check = EXERCISES[name]['check']
    if msg is None: assert check(f); return
    with pytest.raises(ExerciseError) as e: check(f)
    s = str(e.value)
    assert any(m in s for m in ((msg,) if isinstance(msg, str) else msg)), s  # a tuple: an answer with two slips may be told either
    assert '\n' not in s and not re.search(r'[.!?] [A-Z]', s), f"not one sentence: {s}"
    assert e.value._render_traceback_() == [f"ExerciseError: {s}"]

def test_swapped_nn_embeddings_named():
    "`collab_nn_forward` with items before users (same widths in the checker) gets its own sentence"
    def swapped(self, x):
        return sigmoid_range(self.layers(torch.cat([self.item_factors(x[:,1]), self.user_factors(x[:,0])], 1))[:,0], *self.y_range)
    with pytest.raises(ExerciseError, match='item factors before the user factors'): EXERCISES['collab_nn_forward']['check'](swapped)

def test_right_answer_says_so(capsys):
    assert EXERCISES['match_scores']['check'](lambda u, i: (u*i).sum(1))
    assert capsys.readouterr().out.startswith('✓ match_scores: correct')

def test_hard_coded_output_fails():
    "Inputs are fresh on every call, so replaying the outputs of a right answer does not pass"
    seen = []
    def record(u, i): seen.append((u*i).sum(1)); return seen[-1]
    EXERCISES['match_scores']['check'](record)
    torch.manual_seed(0)
    with pytest.raises(ExerciseError): EXERCISES['match_scores']['check'](lambda u, i: seen[0])
    seen2 = []
    def dens(df): seen2.append(len(df)/(df.user.nunique()*df.movie.nunique())); return seen2[-1]
    EXERCISES['ratings_density']['check'](dens)
    with pytest.raises(ExerciseError): EXERCISES['ratings_density']['check'](lambda df: seen2[0])

# --- lesson 7 (ranking): deliberately wrong answers get the specific sentence ----------------------------------------
def _ndcg(ranked, relevant, k, first=2, cut=True, ideal='min', norm=True):
    "NDCG@k written in torch, or with one of the usual slips (`first=1`: position r discounted by log2(r))"
    top = ranked[:k] if cut else ranked
    disc = 1/torch.log2(torch.arange(first, first+max(len(top), k, len(relevant))).float())
    dcg = (torch.isin(top, relevant).float()*disc[:len(top)]).sum()
    n = dict(min=min(k, len(relevant)), k=k, all=len(relevant))[ideal]
    return dcg/disc[:n].sum() if norm else dcg

def _negs(positives, n_items, n, na=False, pos=False, upto=None):
    "Uniform draws among the allowed items, or with `#na#` / the positives / items up to `upto` allowed"
    ok = torch.ones(upto or n_items, dtype=torch.bool)
    if not na: ok[0] = False
    if not pos: ok[positives] = False
    free = ok.nonzero()[:,0]
    return free[torch.randint(0, len(free), (n,))]

def _negs_fixed(positives, n_items, n):
    torch.manual_seed(0)
    return _negs(positives, n_items, n)

WRONG_RANKING = [
    ('ndcg_at_k', lambda r, rel, k: _ndcg(r, rel, k, first=1), 'log2(1) = 0'),
    ('ndcg_at_k', lambda r, rel, k: _ndcg(r, rel, k, norm=False), 'the DCG itself'),
    ('ndcg_at_k', lambda r, rel, k: _ndcg(r, rel, k, ideal='k'), 'fewer relevant items than k'),
    ('ndcg_at_k', lambda r, rel, k: _ndcg(r, rel, k, ideal='all'), 'room for only k'),
    ('ndcg_at_k', lambda r, rel, k: _ndcg(r, rel, k, cut=False), 'beyond position k'),
    ('ndcg_at_k', lambda r, rel, k: torch.isin(r[:k], rel).float().mean(), 'but you returned'),
    ('ndcg_at_k', lambda r, rel, k: _ndcg(r, rel, k).item(), None),
    ('ndcg_at_k', lambda r, rel, k: float(sum(1 for o in r[:k] if o in set(rel))), 'hash by identity'),
    ('sample_negatives', lambda p, m, n: _negs(p, m, n, pos=True), "user's positives"),
    ('sample_negatives', lambda p, m, n: _negs(p, m, n, na=True), "'#na#' placeholder"),
    ('sample_negatives', lambda p, m, n: _negs(p, m, n, upto=m+1), 'out of range'),
    ('sample_negatives', _negs_fixed, 'exactly the same'),
    ('sample_negatives', lambda p, m, n: _negs(p, m, 3)[torch.randint(0, 3, (n,))], 'ever came up'),
    ('sample_negatives', lambda p, m, n: _negs(p, m, n).tolist(), None),
]

@pytest.mark.parametrize('name,f,msg', WRONG_RANKING, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(WRONG_RANKING)])
def test_wrong_answer_feedback_ranking(name, f, msg, capsys):
    test_wrong_answer_feedback(name, f, msg, capsys)

# --- lesson 8 (SVD++): deliberately wrong answers get the specific sentence --------------------------------------------
def _summary(y, items, offsets, alpha, how='ok'):
    "Each user's `|N(u)|**-alpha * sum(y_j)`, or with a usual slip: mean, plain sum, alpha flipped, NaN when empty, offsets read as ends"
    ends = torch.cat([offsets[1:], torch.tensor([len(items)])])
    if how == 'ends': offsets, ends = torch.cat([torch.zeros(1, dtype=torch.long), offsets[:-1]]), offsets   # user u gets u-1's films
    out = []
    for s, e in zip(offsets.tolist(), ends.tolist()):
        h, n = items[s:e], e - s
        scale = dict(ok=n**-alpha if n else 0., ends=n**-alpha if n else 0., mean=1/n if n else 0., sum=1., flip=n**alpha, nan=n**-alpha if n else 1.)[how]
        out.append(y[h].sum(0)*scale if how != 'nan' or n else torch.full((y.shape[1],), float('nan')))
    return torch.stack(out)

def _summary_bag(y, items, offsets, alpha):
    "The lesson's way: `F.embedding_bag` with per-sample weights"
    n = torch.diff(torch.cat([offsets, torch.tensor([len(items)])]))
    w = torch.repeat_interleave(n.clamp(min=1).float(), n).pow(-alpha)
    return F.embedding_bag(items, y, offsets, mode='sum', per_sample_weights=w)

def _summary_mean_nan(y, items, offsets, alpha):
    "A mean over each history (`torch.mean` of nothing is NaN)"
    ends = torch.cat([offsets[1:], torch.tensor([len(items)])])
    return torch.stack([y[items[s:e]].mean(0) for s, e in zip(offsets.tolist(), ends.tolist())])

def _pairs(train, test, protocol, how='ok'):
    "The (user, film) pairs N(u) may use under `protocol`, or with a usual slip"
    trans = protocol == 'transductive'
    both = torch.cat([train, test]) if (trans and how != 'no_test') or how == 'leak' else train
    if how == 'test_only' and trans: both = test
    if how == 'stars': return both.unique(dim=0)
    res = both[:, :2]
    if how == 'swap': res = res.flip(1)
    return res if how == 'dups' else res.unique(dim=0)

WRONG_SVDPP = [
    ('implicit_summary', _summary, None),
    ('implicit_summary', _summary_bag, None),
    ('implicit_summary', lambda *a: _summary(*a).tolist(), 'detached from `y`'),    # a list of lists: no gradient for SVD++
    ('implicit_summary', lambda *a: _summary(*a, how='mean'), 'mean of the y vectors'),
    ('implicit_summary', lambda *a: _summary(*a, how='sum'), 'without the |N(u)|**-alpha scaling'),
    ('implicit_summary', lambda *a: _summary(*a, how='flip'), 'sign of alpha is flipped'),
    ('implicit_summary', lambda *a: _summary(*a, how='nan'), 'empty history got NaN'),
    ('implicit_summary', _summary_mean_nan, 'empty history got NaN'),
    ('implicit_summary', lambda *a: _summary(*a, how='ends'), 'misread the offsets by one user'),
    ('implicit_summary', lambda *a: _summary(*a)[:-1], 'one row per user'),
    ('implicit_summary', lambda *a: _summary(*a).T, 'one summary of'),
    ('history_pairs', _pairs, None),
    ('history_pairs', lambda *a: _pairs(*a).flip(0).tolist(), None),                 # any order, a list
    ('history_pairs', lambda *a: _pairs(*a, how='leak'), 'you added the test pairs'),
    ('history_pairs', lambda *a: _pairs(*a, how='no_test'), 'left out the test pairs'),
    ('history_pairs', lambda *a: _pairs(*a, how='test_only'), 'test pairs alone'),
    ('history_pairs', lambda *a: _pairs(*a, how='stars'), 'you kept the stars'),
    ('history_pairs', lambda *a: _pairs(*a, how='dups'), 'appear twice'),
    ('history_pairs', lambda *a: _pairs(*a, how='swap'), '(film, user)'),
    ('history_pairs', lambda *a: _pairs(*a).float(), 'integers'),
]

@pytest.mark.parametrize('name,f,msg', WRONG_SVDPP, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(WRONG_SVDPP)])
def test_wrong_answer_feedback_svdpp(name, f, msg, capsys):
    test_wrong_answer_feedback(name, f, msg, capsys)

# --- lesson 8b (Bayesian SVD++): deliberately wrong answers get the specific sentence ----------------------------------
def _post(lam, films, ratings, alpha, a_prec=True, a_rhs=True, prior=True, diag=True, out='precision'):
    "One user's posterior `(mean, precision)`, or with one of the usual slips"
    XtX = films.T @ films
    P = (torch.diag(lam) if diag else lam + 0*XtX)*prior + (alpha if a_prec else 1.)*XtX
    mean = torch.linalg.solve(P, (alpha if a_rhs else 1.)*films.T @ ratings)
    return mean, dict(precision=P, covariance=torch.linalg.inv(P), ridge=P/alpha)[out]

def _lstsq(lam, films, ratings, alpha):
    "Plain least squares: no prior (its precision is singular for a user with fewer ratings than components)"
    return torch.linalg.lstsq(films, ratings[:, None]).solution[:, 0], alpha*films.T @ films

def _draw(mean, precision, n, how='ok', centre=True):
    "`n` draws from N(mean, precision⁻¹), or with `L z`, `Lᵀ z`, `L⁻¹ z`, bare `z` in place of `L⁻ᵀ z`, or not centred on the mean"
    L, z = torch.linalg.cholesky(precision), torch.randn(len(mean), n)
    x = dict(ok=lambda: torch.linalg.solve_triangular(L.T, z, upper=True), L=lambda: L @ z, LT=lambda: L.T @ z,
             Linv=lambda: torch.linalg.solve_triangular(L, z, upper=False), z=lambda: z)[how]()
    return x.T + (mean if centre else 0)

def _draw_seeded(mean, precision, n):
    torch.manual_seed(0)
    return _draw(mean, precision, n)

WRONG_BAYES = [
    ('user_posterior', _post, None),
    ('user_posterior', lambda *a: [o.double() for o in _post(*a)], None),                     # a list, in float64
    ('user_posterior', lambda *a: (_post(*a)[0][:, None], _post(*a)[1]), None),                  # a (K, 1) mean
    ('user_posterior', lambda *a: _post(*a, a_prec=False), 'off the data term of the precision'),
    ('user_posterior', lambda *a: _post(*a, a_rhs=False), 'the right-hand side carries the noise precision too'),
    ('user_posterior', lambda *a: _post(*a, a_prec=False, a_rhs=False), 'out of both terms'),
    ('user_posterior', lambda *a: _post(*a, diag=False), 'on the diagonal only'),
    ('user_posterior', lambda *a: _post(*a, out='covariance'), 'you returned the covariance'),
    ('user_posterior', lambda *a: _post(*a, out='ridge'), 'matrix of the ridge regression'),
    ('user_posterior', lambda *a: _post(*a, prior=False), 'without the prior'),
    ('user_posterior', _lstsq, 'without the prior'),
    ('user_posterior', lambda *a: _post(*a)[::-1], 'return the mean first'),
    ('user_posterior', lambda *a: _post(*a)[0], 'return two things'),
    ('draw', _draw, None),
    ('draw', lambda m, P, n: torch.distributions.MultivariateNormal(m, precision_matrix=P).sample((n,)), None),
    ('draw', lambda m, P, n: _draw(m, P, n, 'L'), 'the precision itself'),
    ('draw', lambda m, P, n: _draw(m, P, n, 'L', centre=False), 'the precision itself'),
    ('draw', lambda m, P, n: _draw(m, P, n, 'LT'), 'you used `Lᵀ z`'),
    ('draw', lambda m, P, n: _draw(m, P, n, 'Linv'), 'you used `L⁻¹ z`'),
    ('draw', lambda m, P, n: _draw(m, P, n, 'z'), 'plain standard normal noise'),
    ('draw', lambda m, P, n: _draw(m, P, n, centre=False), 'centred on zero'),
    ('draw', lambda m, P, n: _draw(m, P, n) + 0.5, 'not centred on the mean'),
    ('draw', lambda m, P, n: _draw(m, P, n).T, 'transposed'),
    ('draw', lambda m, P, n: _draw(m, P, n)[:, 0], 'return n='),
    ('draw', _draw_seeded, 'exactly the same'),
]

@pytest.mark.parametrize('name,f,msg', WRONG_BAYES, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(WRONG_BAYES)])
def test_wrong_answer_feedback_bayes(name, f, msg, capsys):
    test_wrong_answer_feedback(name, f, msg, capsys)

# --- lesson 9 (training fast): deliberately wrong answers get the specific sentence --------------------------------------
def _rows(tables, x, how='ok'):
    "The batch mean of the squared looked-up rows, or with a usual slip"
    if how == 'whole': return sum(t.pow(2).sum() for t in tables if t is not None)
    res = 0.
    for t, c in zip(tables[:2] if how == 'no_bias' else tables, (0, 1, 0, 1)):
        if t is None: continue
        idx = x[:, c].unique() if how == 'unique' else x[:, c]
        res = res + (t[idx].pow(2).mean() if how == 'elements' else t[idx].pow(2).sum(1).sum() if how != 'sum' else t[idx].pow(2).sum())
    if how in ('sum', 'elements'): return res
    return res / len(x)

def _rows_vectorised(tables, x):
    "One row per rating: the squared norms summed over the tables, then the batch mean"
    per = [t[x[:, c]].pow(2).reshape(len(x), -1).sum(1) for t, c in zip(tables, (0, 1, 0, 1)) if t is not None]
    return torch.stack(per).sum(0).mean()

def _rows_detached(tables, x):
    with torch.no_grad(): return _rows(tables, x)

WRONG_FAST = [
    ('row_l2', _rows, None),
    ('row_l2', _rows_vectorised, None),
    ('row_l2', lambda t, x: _rows(t, x, 'whole'), 'whole tables'),
    ('row_l2', lambda t, x: _rows(t, x, 'whole')/len(x), 'whole tables'),
    ('row_l2', lambda t, x: _rows(t, x, 'sum'), 'summed over the batch'),
    ('row_l2', lambda t, x: _rows(t, x, 'no_bias'), 'left out the biases'),
    ('row_l2', lambda t, x: _rows(t, x, 'unique'), 'only once'),
    ('row_l2', lambda t, x: _rows(t, x, 'elements'), 'number of factors'),
    ('row_l2', lambda t, x: _rows(t, x).item(), 'Python number'),
    ('row_l2', _rows_detached, 'no gradient'),
    ('row_l2', lambda t, x: _rows(t, x).reshape(1, 1).expand(2, 1), 'return one number'),
]

@pytest.mark.parametrize('name,f,msg', WRONG_FAST, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(WRONG_FAST)])
def test_wrong_answer_feedback_fast(name, f, msg, capsys):
    test_wrong_answer_feedback(name, f, msg, capsys)

# --- lesson 5 (metrics): deliberately wrong answers get the specific sentence ----------------------------------------
def _errs05(pred, targ, how='ok'):
    "`(rmse, mae)`, or with a usual slip: targets not flattened, MSE, the errors' std, MAE without abs, the pair swapped"
    e = pred - targ if how == 'broadcast' else pred.flatten() - targ.flatten()
    r = dict(mse=e.pow(2).mean(), std=e.std(), sum=e.pow(2).sum().sqrt(), root=e.abs().mean()).get(how, e.pow(2).mean().sqrt())
    m = e.mean() if how == 'signed' else e.abs().mean()
    return (m, r) if how == 'swap' else (r, m)

def _undcg05(scores, seen, relevant, k, hide=True, na=False, log=True, ideal='min', norm=True):
    "NDCG@k of one user's list from their scores, or with a usual slip: seen items or `#na#` kept, no log discount, ideal over k, no normalisation"
    s = scores.clone()
    if hide: s[seen] = -float('inf')
    if not na: s[0] = -float('inf')
    hits = torch.isin(s.topk(k).indices, relevant).float()
    disc = 1/torch.log2(torch.arange(2, k+2).float()) if log else torch.ones(k)
    dcg = (hits*disc).sum()
    return dcg if not norm else dcg/disc[:min(k, len(relevant)) if ideal == 'min' else k].sum()

WRONG_METRICS = [
    ('rating_errors', _errs05, None),
    ('rating_errors', lambda p, t: torch.stack(_errs05(p, t)), None),                       # a tensor of two numbers
    ('rating_errors', lambda p, t: _errs05(p, t, 'broadcast'), 'broadcasts to a'),
    ('rating_errors', lambda p, t: _errs05(p, t, 'mse'), 'mean squared error'),
    ('rating_errors', lambda p, t: _errs05(p, t, 'std'), 'standard deviation'),
    ('rating_errors', lambda p, t: _errs05(p, t, 'sum'), 'square root of the sum'),
    ('rating_errors', lambda p, t: _errs05(p, t, 'root'), 'your RMSE equals your MAE'),
    ('rating_errors', lambda p, t: _errs05(p, t, 'signed'), 'opposite signs'),
    ('rating_errors', lambda p, t: _errs05(p, t, 'swap'), 'MAE first'),
    ('rating_errors', lambda p, t: _errs05(p, t)[0], 'you returned one number'),
    ('user_ndcg', _undcg05, None),
    ('user_ndcg', lambda *a: _undcg05(*a).item(), None),
    ('user_ndcg', lambda *a: _undcg05(*a, log=False), 'forgot the log discount'),
    ('user_ndcg', lambda *a: _undcg05(*a, log=False, ideal='k'), 'precision@k'),
    ('user_ndcg', lambda *a: _undcg05(*a, hide=False), 'rated in training'),
    ('user_ndcg', lambda *a: _undcg05(*a, na=True), "'#na#' placeholder"),
    ('user_ndcg', lambda *a: _undcg05(*a, hide=False, na=True), ("keeps index 0", 'rated in training', "'#na#' placeholder")),  # two slips: either may be named
    ('user_ndcg', lambda *a: _undcg05(*a, ideal='k'), 'fewer relevant items than k'),
    ('user_ndcg', lambda *a: _undcg05(*a, norm=False), 'the DCG itself'),
    ('user_ndcg', lambda *a: _undcg05(*a, hide=False, log=False), ('rated in training', 'forgot the log discount', 'precision@k')),  # two slips: the list is usually named first
]

@pytest.mark.parametrize('name,f,msg', WRONG_METRICS, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(WRONG_METRICS)])
def test_wrong_answer_feedback_metrics(name, f, msg, capsys):
    test_wrong_answer_feedback(name, f, msg, capsys)

# --- lesson 5b (choosing without peeking): deliberately wrong answers get the specific sentence ------------------------
def _carve05(n_rows, test_rows, valid_pct, seed, pool='train', share='train', rng='seeded', order='random'):
    "Valid rows carved from the training part, or with a usual slip: drawn from all rows (`pool='all'`), a share of all rows, unseeded, a fixed seed, the first rows"
    train = torch.ones(n_rows, dtype=torch.bool); train[test_rows] = False
    rows = train.nonzero()[:, 0] if pool == 'train' else torch.arange(n_rows)
    m = int(valid_pct*(len(rows) if share == 'train' else n_rows)) if pool == 'train' else int(valid_pct*int(train.sum()))
    g = torch.Generator().manual_seed(0 if rng == 'fixed' else seed)
    perm = torch.randperm(len(rows)) if rng == 'global' else torch.randperm(len(rows), generator=g)
    return rows[:m] if order == 'first' else rows[perm[:m]]

def _peek05(steps, read=('test', 'all'), final_ok=True, ordered=True, actions=None):
    "Whether the pipeline peeks, or with a usual slip: 'all' not counted as reading test, every test read a peek, order ignored, only some actions counted"
    later = False
    for a, p in reversed(steps):
        if p in read and (actions is None or a in actions) and (a != 'report' or not final_ok or (later and ordered)): return True
        if a != 'report': later = True
    return False

WRONG_CHOOSING = [
    ('carve_valid_rows', _carve05, None),
    ('carve_valid_rows', lambda *a: _carve05(*a).tolist(), None),                            # a list
    ('carve_valid_rows', lambda *a: _carve05(*a).numpy(), None),                             # an array
    ('carve_valid_rows', lambda *a: _carve05(*a, pool='all'), 'are test rows'),              # the carve that samples from test
    ('carve_valid_rows', lambda n, t, p, sd: _carve05(n - len(t), t[:0], p, sd), 'positions within the training part'),
    ('carve_valid_rows', lambda *a: _carve05(*a, share='all'), 'of all'),
    ('carve_valid_rows', lambda *a: _carve05(*a, rng='global'), 'same seed gave different rows'),
    ('carve_valid_rows', lambda *a: _carve05(*a, rng='fixed'), 'another seed gave exactly the same rows'),
    ('carve_valid_rows', lambda *a: _carve05(*a, order='first'), 'first'),
    ('carve_valid_rows', lambda *a: _carve05(*a).float(), 'not floats'),
    ('carve_valid_rows', lambda *a: torch.cat([_carve05(*a)[:-1], _carve05(*a)[:1]]), 'appear twice'),
    ('peeks_at_test', _peek05, None),
    ('peeks_at_test', lambda s: int(_peek05(s)), None),                                      # 0 or 1
    ('peeks_at_test', lambda s: _peek05(s, read=('test',)), "'all' is every row"),
    ('peeks_at_test', lambda s: _peek05(s, final_ok=False), 'does not peek'),
    ('peeks_at_test', lambda s: _peek05(s, ordered=False), 'goes on to fit, stop or choose'),
    ('peeks_at_test', lambda s: _peek05(s, actions=('choose',)), 'you returned False'),
    ('peeks_at_test', lambda s: _peek05(s, read=('test', 'all', 'train+valid')), 'does not peek'),
    ('peeks_at_test', lambda s: 'peeks' if _peek05(s) else '', 'return True'),
]

@pytest.mark.parametrize('name,f,msg', WRONG_CHOOSING, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(WRONG_CHOOSING)])
def test_wrong_answer_feedback_choosing(name, f, msg, capsys):
    test_wrong_answer_feedback(name, f, msg, capsys)

def test_carve_check_leaves_the_global_generators_alone():
    "The carve checker stirs the global generators between two calls with one seed, and puts them back afterwards"
    import numpy as np
    torch.manual_seed(3); np.random.seed(3)
    a = torch.rand(2), np.random.rand(2)
    torch.manual_seed(3); np.random.seed(3)
    EXERCISES['carve_valid_rows']['check'](_carve05)
    b = torch.rand(2), np.random.rand(2)
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all()

# --- lesson 6b (cold start): deliberately wrong answers get the specific sentence -------------------------------------
def _ridge06b(F, Y, lam, intercept='free', side='features'):
    "`(W, b)` of the ridge map from `F` to `Y`, or with a usual slip: the intercept penalised or absent, the regression turned round"
    if side == 'rows': F, Y = Y, F
    if intercept == 'free':
        fm, ym = F.mean(0), Y.mean(0)
        W = torch.linalg.solve((F-fm).T@(F-fm) + lam*torch.eye(F.shape[1]), (F-fm).T@(Y-ym))
        return W, ym - fm@W
    if intercept == 'none': return torch.linalg.solve(F.T@F + lam*torch.eye(F.shape[1]), F.T@Y), torch.zeros(Y.shape[1])
    X = torch.cat([torch.ones(len(F), 1), F], 1)
    A = torch.linalg.solve(X.T@X + lam*torch.eye(X.shape[1]), X.T@Y)
    return (A[1:], A[0]) if intercept == 'penalised' else A

WRONG_COLD_ITEM = [
    ('ridge_map', _ridge06b, None),
    ('ridge_map', lambda F, Y, lam: [o.numpy() for o in _ridge06b(F, Y, lam)], None),          # a list of arrays
    ('ridge_map', lambda F, Y, lam: _ridge06b(F, Y, 0.), 'plain least-squares'),               # no regularisation
    ('ridge_map', lambda F, Y, lam: _ridge06b(F, Y, lam, 'penalised'), 'penalised the intercept'),
    ('ridge_map', lambda F, Y, lam: _ridge06b(F, Y, lam, 'none'), 'no intercept'),
    ('ridge_map', lambda F, Y, lam: _ridge06b(F, Y, lam, side='rows'), 'wrong side'),          # the rows mapped to the features
    ('ridge_map', lambda F, Y, lam: (_ridge06b(F, Y, lam)[0].T, _ridge06b(F, Y, lam)[1]), 'transposed'),
    ('ridge_map', lambda F, Y, lam: _ridge06b(F, Y, lam)[::-1], '(b, W)'),
    ('ridge_map', lambda F, Y, lam: _ridge06b(F, Y, lam, 'stacked'), 'one matrix'),
    ('ridge_map', lambda F, Y, lam: (_ridge06b(F, Y, lam)[0], Y.mean(0)), '`b` is not'),
    ('ridge_map', lambda F, Y, lam: _ridge06b(F, Y, 10*lam), 'off by up to'),
    ('ridge_map', lambda F, Y, lam: None, 'forget the `return`'),
]

@pytest.mark.parametrize('name,f,msg', WRONG_COLD_ITEM, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(WRONG_COLD_ITEM)])
def test_wrong_answer_feedback_cold_item(name, f, msg, capsys):
    test_wrong_answer_feedback(name, f, msg, capsys)

# --- lesson 10 (scale): deliberately wrong answers get the specific sentence --------------------------------------------
def _grads10(model, x, y, world, combine='weighted', zero=True, shards='strided'):
    "Each shard's gradient combined, or with a usual slip: summed, a plain mean, `.grad` never zeroed, the final `.grad` kept"
    ps, parts = list(model.parameters()), []
    rows = [torch.arange(r, len(x), world) for r in range(world)] if shards == 'strided' else list(torch.arange(len(x)).tensor_split(world))
    if zero == 'once': model.zero_grad()
    for r in rows:
        if zero is True: model.zero_grad()
        F.mse_loss(model(x[r]), y[r]).backward()
        w = dict(weighted=len(r)/len(x), mean=1/world, sum=1.).get(combine, 0.)
        parts.append([p.grad*w for p in ps])
    return [p.grad.clone() for p in ps] if combine == 'last' else [sum(o) for o in zip(*parts)]

def _rows10(n, rank, world, how='strided'):
    "Rank `rank`'s rows of a batch of `n`, or with a usual slip: the same rows for every rank, the remainder dropped, unseeded, overlapping"
    if how == 'strided': return torch.arange(rank, n, world)
    if how == 'chunks': return torch.arange(n).tensor_split(world)[rank]
    if how == 'same': return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:n // world]
    if how == 'drop': return torch.arange(rank*(n//world), (rank+1)*(n//world))
    if how == 'unseeded': return torch.randperm(n).tensor_split(world)[rank]
    if how == 'overlap': return torch.arange(rank, min(n, rank + n//world + 1))
    if how == 'lopsided': return torch.arange(n)[:n - world + 1] if rank == 0 else torch.tensor([n - world + rank])
    return torch.arange(rank, n, world).repeat(2)

WRONG_SCALE = [
    ('shard_grads', _grads10, None),
    ('shard_grads', lambda *a: tuple(_grads10(*a, shards='chunks')), None),                   # consecutive chunks, a tuple
    ('shard_grads', lambda m, x, y, w: list(torch.autograd.grad(F.mse_loss(m(x), y), list(m.parameters()))), None),  # the whole batch at once
    ('shard_grads', lambda *a: _grads10(*a, combine='sum'), 'summed'),
    ('shard_grads', lambda *a: _grads10(*a, combine='mean'), 'plain mean'),
    ('shard_grads', lambda *a: _grads10(*a, combine='mean', shards='chunks'), 'plain mean'),
    ('shard_grads', lambda *a: _grads10(*a, zero=False), 'left in `.grad` from the last step, and they pile up'),
    ('shard_grads', lambda *a: _grads10(*a, zero='once'), 'pile up from shard to shard'),
    ('shard_grads', lambda *a: _grads10(*a, combine='last', zero='once'), 'summed'),
    ('shard_grads', lambda *a: _grads10(*a, combine='last', zero=False), 'what `.grad` holds after the last shard'),
    ('shard_grads', lambda *a: _grads10(*a)[:-1], 'parameters but you returned'),
    ('shard_grads', lambda *a: [o.T for o in _grads10(*a)], 'has shape'),
    ('shard_grads', lambda *a: [0*o for o in _grads10(*a)], 'all zeros'),
    ('shard_grads', lambda *a: _grads10(*a)[0], 'return a list of gradients'),
    ('shard_rows', _rows10, None),
    ('shard_rows', lambda *a: _rows10(*a, how='chunks').tolist(), None),
    ('shard_rows', lambda *a: _rows10(*a, how='same'), 'every rank got the same'),
    ('shard_rows', lambda *a: _rows10(*a, how='drop'), 'go to no rank'),
    ('shard_rows', lambda *a: _rows10(*a, how='unseeded'), 'same rank gave different rows'),
    ('shard_rows', lambda *a: _rows10(*a, how='overlap'), 'must not overlap'),
    ('shard_rows', lambda *a: _rows10(*a, how='lopsided'), 'share the rows out evenly'),
    ('shard_rows', lambda *a: _rows10(*a, how='twice'), 'rows twice'),
    ('shard_rows', lambda *a: _rows10(*a).float(), 'not floats'),
    ('shard_rows', lambda n, r, w: _rows10(n, r, w) + 1, 'does not exist'),
]

@pytest.mark.parametrize('name,f,msg', WRONG_SCALE, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(WRONG_SCALE)])
def test_wrong_answer_feedback_scale(name, f, msg, capsys):
    test_wrong_answer_feedback(name, f, msg, capsys)

def test_shard_grads_check_leaves_its_copy_alone():
    "The checker's reference gradients come from a private copy: an answer that changes the weights is named, not compared"
    def moves(m, x, y, w):
        with torch.no_grad():
            for p in m.parameters(): p.add_(1.)
        return _grads10(m, x, y, w)
    with pytest.raises(ExerciseError, match='changed the parameters'): EXERCISES['shard_grads']['check'](moves)

# --- issue 25, points 6 and 7: checkers that mutate what they check against, and plausible wrong answers that passed ------
def _zeroing_fwd(self, x):
    "Zero the model it is given, then return what a zeroed model predicts (the middle of the range), still attached to the parameters"
    with torch.no_grad():
        for p in self.parameters(): p.zero_()
    return sigmoid_range(sum(p.sum() for p in self.parameters()) + torch.zeros(len(x)), *self.y_range)

def _encode_searchsorted(ids, classes):
    "Positions by binary search, with 0 only for ids past the last known one"
    known = classes[1:]
    return torch.tensor([i+1 if (i := __import__('bisect').bisect_left(known, o)) < len(known) else 0 for o in ids], dtype=torch.long)

def _negs_no_last(positives, n_items, n):
    "Uniform draws that never reach the last item (an upper bound off by one)"
    free = _negs(positives, n_items, 4*n)
    return free[free != n_items-1][:n]

def _top_masked(fill):
    def f(scores, rated, n):
        s = scores.clone(); s[rated] = fill; s[0] = -float('inf')
        return s.topk(n).indices
    return f

def _top_in_place(scores, rated, n):
    scores[rated] = -float('inf'); scores[0] = -float('inf')
    return scores.topk(n).indices

def _similar_zeroed(f, i, n):
    sims = F.cosine_similarity(f, f[i][None], dim=1); sims[i] = 0
    return sims.topk(n).indices

def _negs_dealt(positives, n_items, n):
    "Every free item in turn, shuffled: the counts are as even as can be, which random draws never are"
    ok = torch.ones(n_items, dtype=torch.bool); ok[0] = False; ok[positives] = False
    free = ok.nonzero()[:, 0]
    return free.repeat(n // len(free) + 1)[:n][torch.randperm(n)]

def _draw_mirrored(m, P, n):
    d = _draw(torch.zeros_like(m), P, (n+1)//2)
    return m + torch.cat([d, -d])[:n]

def _frozen_bias_fwd(self, x):
    u, i = x[:,0], x[:,1]
    res = (self.user_factors(u)*self.item_factors(i)).sum(1) + self.user_bias(u)[:,0].detach() + self.item_bias(i)[:,0]
    return sigmoid_range(res, *self.y_range)

def _step_eats_y(m, x, y, lr, wd): _step(m, x, y.sub_(y.mean()), lr, wd)

HOLES = [  # (exercise, plausible wrong answer, words of the sentence): each passed the checkers before issue 25
    ('dot_product_bias_forward', _zeroing_fwd, 'changed the parameters of `self`'),
    ('collab_nn_forward', _zeroing_fwd, 'changed the parameters of `self`'),
    ('dot_product_bias_forward', _frozen_bias_fwd, 'gradient that reaches `user_bias`'),
    ('top_n_unrated', _top_masked(0.), "mask with `-float('inf')`"),
    ('top_n_unrated', _top_masked(-1.), "mask with `-float('inf')`"),
    ('top_n_unrated', _top_in_place, 'changed its argument `scores` in place'),
    ('most_similar', _similar_zeroed, 'includes the query item'),
    ('encode_ids', _encode_searchsorted, 'unknown ids must map to 0'),
    ('encode_ids', lambda ids, cl: torch.tensor([cl.index(o) if o in cl else 0 for o in ids]), 'empty `torch.long` tensor'),
    ('match_scores', lambda u, i: (u*i).sum(1).detach(), 'detached'),
    ('sigmoid_range', lambda x, lo, hi: (torch.sigmoid(x)*(hi-lo)+lo).detach(), 'detached'),
    ('sgd_step', _step_eats_y, 'changed its argument `y` in place'),
    ('sample_negatives', _negs_dealt, 'more evenly than independent draws'),
    ('draw', _draw_mirrored, 'mirrored pairs'),
    ('implicit_summary', lambda *a: torch.tensor(_summary(*a).detach().numpy()), 'detached from `y`'),
]

STRICTER = [  # wrong answers the checkers used to catch only on some of their random inputs, and now catch on every run
    ('one_hot_lookup', lambda i, w: F.one_hot(i).float() @ w, 'raised RuntimeError'),           # as wide as the largest index, not the table
    ('fold_in', lambda f, b, i, r, wd: torch.linalg.lstsq(f[i], (r - b[i])[:, None]).solution[:, 0], 'forgot the penalty'),
    ('sample_negatives', _negs_no_last, 'ever came up'),
    ('row_l2', lambda t, x: _rows([o.detach() if o is not None else None for o in t], x), 'no gradient'),
]

@pytest.mark.parametrize('name,f,msg', HOLES + STRICTER, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(HOLES + STRICTER)])
def test_checker_holes_closed(name, f, msg, capsys):
    test_wrong_answer_feedback(name, f, msg, capsys)

# --- issue 25, point 5: the package is not the answer key ---------------------------------------------------------------
def _lib(path):
    "The function `module:qualname` of the package (or of fastai)"
    import importlib
    mod, _, qual = path.partition(':')
    obj = importlib.import_module(mod)
    for part in qual.split('.'): obj = getattr(obj, part)
    return obj

DELEGATED = [  # (exercise, a function that hands in a reference implementation, which one)
    ('one_hot_lookup', lambda i, w: _lib('collab_nb.lookup:onehot_lookup')(i, w), 'collab_nb.lookup.onehot_lookup'),
    ('one_hot_lookup', lambda i, w: _lib('collab_nb.lookup:one_hot')(i, w.shape[0]) @ w, 'collab_nb.lookup.one_hot'),
    ('match_scores', lambda u, i: _lib('collab_nb.lookup:match_score')(u, i), 'collab_nb.lookup.match_score'),
    ('sigmoid_range', lambda x, lo, hi: _lib('fastai.layers:sigmoid_range')(x, lo, hi), 'fastai.layers.sigmoid_range'),
    ('dot_product_bias_forward', lambda s, x: _lib('collab_nb.models:DotProductBias.forward')(s, x), 'collab_nb.models.DotProductBias.forward'),
    ('dot_product_bias_forward', lambda s, x: s(x), 'collab_nb.models.DotProductBias.forward'),          # the model's own forward
    ('sgd_step', lambda *a: _lib('collab_nb.classroom.checks.dot_product:_ref_sgd_step')(*a), "the checker's own answer `_ref_sgd_step`"),
    ('emb_sz_rule', lambda n: _lib('collab_nb.neural:emb_sz_rule')(n), 'collab_nb.neural.emb_sz_rule'),
    ('emb_sz_rule', lambda n: _lib('fastai.tabular.model:emb_sz_rule')(n), 'fastai.tabular.model.emb_sz_rule'),
    ('emb_sz_rule', lambda n: _lib('collab_nb.classroom.checks.collab_nn:_emb_rule')(n), "the checker's own answer `_emb_rule`"),
    ('collab_nn_forward', lambda s, x: s(x), 'collab_nb.neural.CollabNN.forward'),
    ('ndcg_at_k', lambda r, rel, k: _lib('collab_nb.metrics:ndcg_at_k')(r.tolist(), set(rel.tolist()), k), 'collab_nb.metrics.ndcg_at_k'),
    ('implicit_summary', lambda *a: _lib('collab_nb.classroom.checks.svdpp:_summary_ref')(*a), "the checker's own answer `_summary_ref`"),
    ('user_posterior', lambda *a: _lib('collab_nb.classroom.checks.bayes:_posterior_ref')(*a), "the checker's own answer `_posterior_ref`"),
    ('draw', lambda m, P, n: torch.stack([_lib('collab_nb.bayes:sample_posterior')(torch.linalg.cholesky(P)[None], m[None])[0] for _ in range(n)]), 'collab_nb.bayes.sample_posterior'),
    ('row_l2', lambda t, x: _lib('collab_nb.train:row_l2')(t, x), 'collab_nb.train.row_l2'),
    ('rating_errors', lambda p, t: (_lib('collab_nb.metrics:rmse')(p, t), _lib('collab_nb.metrics:mae')(p, t)), 'collab_nb.metrics.rmse'),
    ('user_ndcg', lambda s, seen, rel, k: _lib('collab_nb.metrics:ndcg_at_k')(_undcg05_list(s, seen, k), set(rel.tolist()), k), 'collab_nb.metrics.ndcg_at_k'),
    ('carve_valid_rows', lambda n, t, p, sd: _lib('collab_nb.data:carve_valid')(_rows_frame(n, t), 'rows', p, sd)[1].index.to_numpy(), 'collab_nb.data.carve_valid'),
]

def _undcg05_list(scores, seen, k):
    s = scores.clone(); s[seen] = -float('inf'); s[0] = -float('inf')
    return s.topk(k).indices.tolist()

def _rows_frame(n, test_rows):
    "The training rows of `n` as a DataFrame indexed by row number"
    import pandas as pd
    keep = torch.ones(n, dtype=torch.bool); keep[test_rows] = False
    return pd.DataFrame({'row': keep.nonzero()[:, 0].numpy()}, index=keep.nonzero()[:, 0].numpy())

@pytest.mark.parametrize('name,f,msg', DELEGATED, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(DELEGATED)])
def test_reference_implementations_handed_in_fail(name, f, msg, capsys):
    "A function that calls the package's own implementation, or the checker's reference answer, is named, not passed"
    test_wrong_answer_feedback(name, f, f'hands in {msg}' if msg.startswith('the checker') else f'hands in `{msg}`', capsys)

def test_reference_saved_before_the_check_is_still_caught():
    "The swap replaces the code, not the name: a reference saved under another name before the check leads to the trap too"
    from collab_nb.lookup import match_score
    saved = match_score
    with pytest.raises(ExerciseError, match='hands in'): EXERCISES['match_scores']['check'](lambda u, i: saved(u, i))
    assert torch.equal(match_score(torch.ones(2, 3), torch.ones(2, 3)), torch.full((2,), 3.))   # and works again afterwards

# --- the course site ------------------------------------------------------------------------------------------------------
def test_cli_exercises_bad_input(tmp_path):
    "The handouts themselves are built by the console script in tests/test_package.py (from a wheel) and by reference/handout"
    from collab_nb.cli import run
    rc, out, err = run(['exercises', 'publish', str(tmp_path/'out')])
    assert rc == 2 and err.startswith('error: unknown action') and 'Traceback' not in err
    rc, out, err = run(['grade', str(tmp_path/'nothing')])
    assert rc == 2 and err.startswith('error: submissions folder not found')

def test_site_cmd_rejects_unknown_lesson(tmp_path):
    from collab_nb.cli import run
    rc, out, err = run(['site', str(tmp_path/'site'), '--lessons', '00_data,99_nope'])
    assert rc == 2 and 'unknown lesson' in err
    assert not (tmp_path/'site').exists()

def test_site_executes_a_notebook(tmp_path):
    "`build_site(execute=True)` runs a notebook (a two-cell one) and renders what it computed"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# Tiny lesson\n\n> Forty-two, computed.'), nbformat.v4.new_code_cell('6 * 7')])
    nbformat.write(nb, tmp_path/'00_tiny.ipynb')
    idx = site.build_site(tmp_path/'site', [tmp_path/'00_tiny.ipynb'], exercises_src=False, timeout=120)
    page = (tmp_path/'site'/'00_tiny.html').read_text()
    assert '>42<' in page.replace('\n', '') or '42</pre>' in page, page[-2000:]
    assert 'Tiny lesson' in idx.read_text()

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')

class _Dom(HTMLParser):
    "Headings, links and embedded images of a page"
    def __init__(self):
        super().__init__(); self.h, self.links, self.imgs, self._tag = [], [], [], None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ('h1', 'h2'): self._tag = tag; self.h.append([tag, ''])
        if tag == 'a' and a.get('href'): self.links.append(a['href'])
        if tag == 'img' and (a.get('src') or '').startswith('data:image/'): self.imgs.append(a['src'][:30])
    def handle_endtag(self, tag):
        if tag == self._tag: self._tag = None
    def handle_data(self, data):
        if self._tag: self.h[-1][1] += data

def browser_dom(path:Path)->_Dom:
    "Load `path` in headless Chromium and parse the DOM it ends up with"
    r = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                        '--disable-background-networking', '--no-first-run', '--disable-extensions',
                        '--virtual-time-budget=5000', '--dump-dom', path.resolve().as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '<html' in r.stdout, r.stderr[-2000:]
    d = _Dom(); d.feed(r.stdout)
    return d

def _plot_lesson()->Path:
    "A stored lesson notebook with a plot in its outputs (the interpretation lesson's, else its exercise notebook)"
    for p in site.lesson_notebooks():
        if p.stem.startswith('03_') and 'image/png' in p.read_text(): return p
    return ROOT/'collab_nb'/'classroom'/'exercises'/'03_interpret.ipynb'

@pytest.mark.skipif(CHROMIUM is None, reason='chromium not installed (apt-get install -y chromium)')
def test_site_in_headless_chromium(tmp_path):
    "The stored outputs of an executed lesson, rendered (execute=False), read back through a browser: title, sections, the plot, the links"
    lesson = _plot_lesson()
    idx = site.build_site(tmp_path/'site', [lesson], execute=False)
    home = _Dom(); home.feed(idx.read_text())   # the index is plain HTML; the lesson page is read through the browser
    assert [t for t,_ in home.h][:1] == ['h1'] and 'collab_nb' in home.h[0][1]
    assert f'{lesson.stem}.html' in home.links
    assert sum(l.startswith('student/') and l.endswith('.ipynb') for l in home.links) == len(LESSONS)
    page = browser_dom(tmp_path/'site'/f'{lesson.stem}.html')
    h1 = [t for tag,t in page.h if tag == 'h1']
    assert h1 and h1[0].strip().rstrip('¶').strip() == site._nb_title(nbformat.read(lesson, as_version=4), '')[0]
    assert any(tag == 'h2' for tag,_ in page.h)
    assert len(page.imgs) >= 1, 'no plot on the page'

# --- lesson 5c (splitting by when): deliberately wrong answers get the specific sentence ---------------------------------
def _latest05c(ratings, n, min_keep, how='ok'):
    "Positions of each user's latest `n`, or with a usual slip: any `n`, a global cut, light users too, all ties at the cut, ties reversed"
    import numpy as np
    df = ratings.reset_index(drop=True)
    if how == 'reversed': return len(df) - 1 - _latest05c(df.iloc[::-1], n, min_keep)
    if how == 'global': return np.argsort(df.timestamp.to_numpy(), kind='stable')[len(df) - len(_latest05c(df, n, min_keep)):]
    size = df.groupby('user').user.transform('size').to_numpy()
    if how == 'ties':
        nth = df.groupby('user').timestamp.transform(lambda t: np.sort(t.to_numpy())[-min(n, len(t))]).to_numpy()
        return np.flatnonzero((df.timestamp.to_numpy() >= nth) & (size >= n + min_keep))
    s = df.sample(frac=1, random_state=0) if how == 'random' else df.sort_values(['user', 'timestamp'], kind='stable')
    from_end = s.groupby('user').cumcount(ascending=how == 'random').to_numpy()
    keep = s.groupby('user').user.transform('size').to_numpy() >= (n + min_keep if how != 'light' else 0)
    return s.index[(from_end < n) & keep].to_numpy()

def _mask05c(ratings, n, min_keep):
    import numpy as np
    m = np.zeros(len(ratings), bool); m[_latest05c(ratings, n, min_keep)] = True
    return m

WRONG_TIME05C = [
    ('latest_holdout', _latest05c, None),
    ('latest_holdout', lambda *a: _latest05c(*a).tolist(), None),                               # a list
    ('latest_holdout', lambda *a: torch.as_tensor(_latest05c(*a)), None),                       # a tensor
    ('latest_holdout', lambda *a: _latest05c(*a, how='random'), 'not any'),
    ('latest_holdout', lambda *a: _latest05c(*a, how='global'), 'one global cut in time'),
    ('latest_holdout', lambda *a: _latest05c(*a, how='light'), 'stay wholly in training'),
    ('latest_holdout', lambda *a: _latest05c(*a, how='ties'), 'hold out exactly'),
    ('latest_holdout', lambda *a: _latest05c(*a, how='reversed'), 'break ties by row order'),
    ('latest_holdout', lambda r, n, k: _latest05c(r, n - 1, k + 1), 'should be held out'),
    ('latest_holdout', _mask05c, 'boolean mask'),
    ('latest_holdout', lambda r, n, k: r.iloc[_latest05c(r, n, k)], 'not a DataFrame'),
    ('latest_holdout', lambda *a: __import__('numpy').setdiff1d(__import__('numpy').arange(len(a[0])), _latest05c(*a)), 'stay in training'),
    ('latest_holdout', lambda *a: _lib('collab_nb.data:holdout_split')(a[0], n=a[1], by='time', min_keep=a[2])[1].index, 'hands in `collab_nb.data.holdout_split`'),
]

@pytest.mark.parametrize('name,f,msg', WRONG_TIME05C, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(WRONG_TIME05C)])
def test_wrong_answer_feedback_time05c(name, f, msg, capsys):
    test_wrong_answer_feedback(name, f, msg, capsys)

def test_latest_holdout_reference_is_holdout_split05c():
    "The checker's tables have ties at the cut of a heavy user and a light user, and its reference is `holdout_split(by='time')`"
    from collab_nb.classroom.checks.core import gen
    from collab_nb.classroom.checks.timesplit import _latest_ref, _ratings_case
    g = gen()
    for _ in range(5):
        df, n, keep = _ratings_case(g)
        size = df.user.value_counts()
        assert (size < n + keep).any() and (size >= n + keep).any()
        assert _latest_ref(df, n, keep) == set(_latest05c(df, n, keep).tolist())
        assert set(_latest05c(df, n, keep, 'ties').tolist()) != _latest_ref(df, n, keep)   # the tie is there to be missed

# --- lesson 7b (baselines): deliberately wrong answers get the specific sentence ------------------------------------------
def _knn07b(X, K, norm='both', self_sim=False, axis=1, topk=True, hide=True):
    "Item-kNN scores, or with a usual slip: no or one-sided normalisation, the item among its neighbours, top K of columns, every similarity, watched items scored"
    n = X.norm(dim=0)
    G = X.T @ X
    if norm == 'both': G = G / n[:, None] / n[None]
    elif norm == 'one': G = G / n[None]
    if not self_sim: G.fill_diagonal_(-float('inf'))
    k = K if topk else X.shape[1] - (0 if self_sim else 1)
    top = G.topk(k, dim=axis)
    s = X @ torch.zeros_like(G).scatter(axis, top.indices, top.values)
    if hide: s[X > 0] = -float('inf')
    return s

def _cov07b(lists, k, n_items): return len(torch.unique(lists[:, :k])) / (n_items - 1)

WRONG_BASELINES07B = [
    ('knn_scores', _knn07b, None),
    ('knn_scores', lambda X, K: _knn07b(X.double(), K).numpy(), None),                          # an array, in float64
    ('knn_scores', lambda X, K: _knn07b(X, K, norm='none'), 'raw dot products'),
    ('knn_scores', lambda X, K: _knn07b(X, K, norm='one'), "one column's norm only"),
    ('knn_scores', lambda X, K: _knn07b(X, K, self_sim=True), 'include the item itself'),
    ('knn_scores', lambda X, K: _knn07b(X, K, axis=0), 'K largest of each column'),
    ('knn_scores', lambda X, K: _knn07b(X, K, topk=False), 'K was not applied'),
    ('knn_scores', lambda X, K: _knn07b(X, K, hide=False), 'set them to -inf'),
    ('knn_scores', lambda X, K: _knn07b(X, K).clamp(min=-1e9), 'set them to -inf'),           # a large negative number is not -inf
    ('knn_scores', lambda X, K: _knn07b(X, K + 1), 'differ from item-kNN'),
    ('knn_scores', lambda X, K: X.T @ X, 'similarities of the items'),
    ('catalogue_coverage', _cov07b, None),
    ('catalogue_coverage', lambda *a: torch.tensor(_cov07b(*a)), None),                         # a 0-d tensor
    ('catalogue_coverage', lambda l, k, n: l[:, :k].numel() / (n - 1), 'duplicates included'),
    ('catalogue_coverage', lambda l, k, n: len(torch.unique(l[:, :k])) / n, "'#na#' placeholder"),
    ('catalogue_coverage', lambda l, k, n: len(torch.unique(l[:, :k])) / len(torch.unique(l)), 'items that appear on the whole lists'),
    ('catalogue_coverage', lambda l, k, n: len(torch.unique(l[:, :k])) / len(l), 'number of users'),
    ('catalogue_coverage', lambda l, k, n: len(torch.unique(l[:, :k])) / l[:, :k].numel(), 'number of slots'),
    ('catalogue_coverage', lambda l, k, n: len(torch.unique(l)) / (n - 1), 'not only their first'),
    ('catalogue_coverage', lambda l, k, n: sum(len(set(r[:k].tolist())) for r in l) / len(l) / (n - 1), 'averaged each user'),
    ('catalogue_coverage', lambda l, k, n: len(torch.unique(l[:, :k])), 'number of distinct items'),
    ('catalogue_coverage', lambda l, k, n: _cov07b(l, k, n) + 0.01, 'the coverage is'),
]

@pytest.mark.parametrize('name,f,msg', WRONG_BASELINES07B, ids=[f'{n}-{i}' for i,(n,_,_) in enumerate(WRONG_BASELINES07B)])
def test_wrong_answer_feedback_baselines07b(name, f, msg, capsys):
    test_wrong_answer_feedback(name, f, msg, capsys)
