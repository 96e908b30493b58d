"The classroom: checkers, student/solution versions, the grader (own processes, time limit) and the course site."
import csv, json, os, re, shutil, subprocess, sys, time
from html.parser import HTMLParser
from pathlib import Path
import nbformat, pytest, torch
import torch.nn.functional as F
from types import SimpleNamespace
import collab_nb.classroom.checks as checks, collab_nb.classroom.handout as handout
import collab_nb.classroom.grader as grader, collab_nb.classroom.site as site
from collab_nb.classroom.checks import ExerciseError, EXERCISES, lesson_exercises
from collab_nb.classroom.handout import build_exercises, STUB, YOUR_ANSWER, SOL_BEGIN
from collab_nb.classroom.judge import judge
ex = SimpleNamespace(**{k: v for m in (checks, handout, grader, site) for k,v in vars(m).items() if not k.startswith('__')})

ROOT = Path(__file__).resolve().parents[1]
EXE = shutil.which('collab-nb') or str(Path(sys.executable).with_name('collab-nb'))
LESSONS = ['00_data', '01_lookup', '02_dot_product', '03_interpret', '04_collab_nn', '05_recommend', '07_ranking', '08_svdpp', '08b_bayes', '09_fast']

@pytest.fixture(scope='module')
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp('handout')
    build_exercises(d)
    return d

def run_cells(nb_path, cwd):
    "Execute every code cell of a notebook in-process, carrying on after errors (like the grader); return its namespace"
    nb, ns, old = nbformat.read(nb_path, as_version=4), {'__name__': '__main__'}, os.getcwd()
    os.chdir(cwd)
    try:
        for c in nb.cells:
            if c.cell_type != 'code': continue
            try: exec(compile(c.source, str(nb_path), 'exec'), ns)
            except Exception: pass
    finally: os.chdir(old)
    return ns

def verdicts(nb_path, ns)->dict:
    "{exercise: (status, message)}: each exercise judged (as the grader does) on the function its check cell names"
    calls = ex._check_cells(nbformat.read(nb_path, as_version=4))
    return {e: judge(e, ns[name]) for e, (_, name) in calls.items()}

def test_every_lesson_has_exercises_and_sources():
    test_lessons = sorted({v['lesson'] for v in EXERCISES.values()})
    assert test_lessons == LESSONS
    assert [p.stem for p in ex.exercise_sources()] == LESSONS
    for p in ex.exercise_sources():
        src = p.read_text()
        for name in lesson_exercises(p.stem): assert f'check_{name}(' in src, (p.name, name)
        assert src.count('**Model answer') >= 4, p.name

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

def test_solution_versions_pass(built, tmp_path):
    """Each exercise of the solution versions, judged as the grader judges it, passes (that the exercise sources run top to
    bottom in a kernel, with their stored outputs, is checked in tests/test_notebooks.py)"""
    res = {}
    for l in LESSONS:
        nb = built/'solution'/f'{l}.ipynb'
        res.update(verdicts(nb, run_cells(nb, tmp_path)))
    assert set(res) == set(EXERCISES) and all(st == 'pass' for st,_ in res.values()), res

def test_student_versions_fail_with_stub_message(built, tmp_path):
    res = {}
    for l in LESSONS:
        nb = built/'student'/f'{l}.ipynb'
        res.update(verdicts(nb, run_cells(nb, tmp_path)))
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
    assert msg in s, s
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

# --- the grader -------------------------------------------------------------------------------------------------
def _edit(nb_path, out, fn=None, prepend=None):
    "Copy a notebook, changing code cells with `fn(source)` and/or inserting a code cell after the imports"
    nb = nbformat.read(nb_path, as_version=4)
    if fn:
        for c in nb.cells:
            if c.cell_type == 'code': c.source = fn(c.source)
    if prepend:
        i = next(i for i,c in enumerate(nb.cells) if c.cell_type == 'code')
        nb.cells.insert(i+1, nbformat.v4.new_code_cell(prepend))
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)

def test_grade_cli(built, tmp_path):
    "Correct, wrong, crashing, looping (uninterruptibly / inside one exercise), file-deleting, untouched: the right CSV, in time"
    sol, subs = built/'solution'/'01_lookup.ipynb', tmp_path/'subs'
    _edit(sol, subs/'ann'/'01_lookup.ipynb')
    _edit(sol, subs/'bob'/'01_lookup.ipynb', fn=lambda s: s.replace('return (users * items).sum(dim=1)', 'return users @ items.T'))
    _edit(sol, subs/'cat'/'01_lookup.ipynb', prepend='import os; os._exit(1)')
    _edit(sol, subs/'dan'/'01_lookup.ipynb', prepend='import time\nwhile True:\n    try: time.sleep(0.05)\n    except KeyboardInterrupt: pass')
    _edit(sol, subs/'gil'/'01_lookup.ipynb', fn=lambda s: s.replace('return (users * items).sum(dim=1)', 'while True: pass'))
    _edit(sol, subs/'eve'/'renamed.ipynb', prepend='import os, shutil; shutil.rmtree(os.getcwd(), ignore_errors=True)')
    _edit(built/'student'/'01_lookup.ipynb', subs/'fay'/'01_lookup.ipynb')
    out, timeout = tmp_path/'grades.csv', 45  # generous: a loaded CI machine imports torch and fastai slowly in a fresh kernel
    t = time.time()
    r = subprocess.run([EXE, 'grade', str(subs), '--out', str(out), '--timeout', str(timeout), '--cell-timeout', '20', '--json'],
                       capture_output=True, text=True, timeout=600)
    secs = time.time() - t
    assert r.returncode == 0, r.stderr
    assert secs < 4*timeout + 60, secs  # 7 notebooks, 2 at a time, the looping ones stopped at their limits
    summary = json.loads(r.stdout)
    rows = list(csv.DictReader(open(out)))
    assert summary['rows'] == len(rows) == 14 and summary['students'] == 7
    got = {(r['student'], r['exercise']): (r['status'], r['score'], r['message']) for r in rows}
    assert list(rows[0]) == ex.GRADE_FIELDS
    st = {k: v[0] for k,v in got.items()}
    assert st == {('ann','one_hot_lookup'): 'pass', ('ann','match_scores'): 'pass',
                  ('bob','one_hot_lookup'): 'pass', ('bob','match_scores'): 'fail',
                  ('cat','one_hot_lookup'): 'crash', ('cat','match_scores'): 'crash',
                  ('dan','one_hot_lookup'): 'timeout', ('dan','match_scores'): 'timeout',
                  ('eve','one_hot_lookup'): 'pass', ('eve','match_scores'): 'pass',
                  ('fay','one_hot_lookup'): 'fail', ('fay','match_scores'): 'fail',
                  ('gil','one_hot_lookup'): 'pass', ('gil','match_scores'): 'timeout'}, got
    assert 'every user against every item' in got[('bob','match_scores')][2]
    assert 'not written yet' in got[('fay','match_scores')][2]
    assert 'did not finish within' in got[('dan','match_scores')][2]
    assert 'did not answer in time' in got[('gil','match_scores')][2]
    assert 'kernel died' in got[('cat','match_scores')][2]
    assert summary['per_student'] == dict(ann=2, bob=1, cat=0, dan=0, eve=2, fay=0, gil=1)
    # the grader's own limits: the child ready within timeout + 60 s (start-up included), judging within timeout, 10 s to stop
    assert float(next(r for r in rows if r['student']=='dan')['seconds']) < 2*timeout + 70

def test_grade_finds_what_to_judge(built, tmp_path):
    "The grader judges the function each check cell names; a deleted check cell, or one not called on a name, is missing"
    nb = nbformat.read(built/'solution'/'01_lookup.ipynb', as_version=4)
    calls = ex._check_cells(nb)
    assert {k: name for k, (_, name) in calls.items()} == dict(one_hot_lookup='one_hot_lookup', match_scores='match_scores')
    assert all('check_' + k in nb.cells[i].source for k, (i, _) in calls.items())
    nb.cells = [c for c in nb.cells if 'check_match_scores(' not in c.source]
    for c in nb.cells:
        if 'check_one_hot_lookup(' in c.source: c.source = 'check_one_hot_lookup(lambda idx, w: w[idx])'
    calls = ex._check_cells(nb)
    assert calls['one_hot_lookup'][1] is None and 'match_scores' not in calls
    res = ex._verdicts('01_lookup', calls, tmp_path, None, 'ok', 10, None)  # nothing is left to ask the kernel
    assert {k: st for k, (st, _) in res.items()} == dict(one_hot_lookup='missing', match_scores='missing')
    assert 'by name' in res['one_hot_lookup'][1] and 'no `check_match_scores(...)` cell' in res['match_scores'][1]

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

# --- the course site in headless Chromium -----------------------------------------------------------------------
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
    "A lesson notebook that draws a plot (the interpretation lesson if it does, else its exercise notebook)"
    for p in ex.lesson_notebooks():
        if p.stem.startswith('03_') and 'plt.' in p.read_text(): return p
    return ROOT/'collab_nb'/'classroom'/'exercises'/'03_interpret.ipynb'

@pytest.mark.skipif(CHROMIUM is None, reason='chromium not installed (apt-get install -y chromium)')
def test_site_in_headless_chromium(tmp_path):
    lesson = _plot_lesson()
    idx = ex.build_site(tmp_path/'site', [lesson], timeout=300)
    home = browser_dom(idx)
    assert [t for t,_ in home.h][:1] == ['h1'] and 'collab_nb' in home.h[0][1]
    assert f'{lesson.stem}.html' in home.links
    assert sum(l.startswith('student/') and l.endswith('.ipynb') for l in home.links) == len(LESSONS)
    page = browser_dom(tmp_path/'site'/f'{lesson.stem}.html')
    h1 = [t for tag,t in page.h if tag == 'h1']
    assert h1 and h1[0].strip().rstrip('¶').strip() == ex._nb_title(nbformat.read(lesson, as_version=4), '')[0]
    assert any(tag == 'h2' for tag,_ in page.h)
    assert len(page.imgs) >= 1, 'no plot on the page'

HOSTILE = '''
import os, sys, glob, subprocess, collab_nb, pathlib
victim, leak, marker = {victim!r}, {leak!r}, {marker!r}
found = glob.glob(str(pathlib.Path(collab_nb.__file__).parent/'classroom'/'exercises'/'*.ipynb'))
for f in [victim, leak]:
    try: open(f, 'w').write('pwned ' + os.environ.get('COLLAB_NB_SECRET', 'no secret') + ' ' + str(found))
    except OSError: pass
subprocess.Popen(['sh', '-c', f'sleep 30 # {{marker}}'], start_new_session=True)
subprocess.Popen(['sh', '-c', f'sleep 4; echo pwned > {grades} # {{marker}}'], start_new_session=True)  # rewrite the grades later
for c in glob.glob('/proc/*/cmdline'):                 # find the other grading processes and their folders
    try: args = open(c, 'rb').read().split(b'\\0')
    except OSError: continue
    for a in args:
        if a.endswith(b'submitted.ipynb'):
            for f in [pathlib.Path(a.decode()), pathlib.Path(a.decode()).parent/'rpc'/'ready']:
                try: open(f, 'a').write('pwned')
                except OSError: pass
def one_hot_lookup(idx, weight):
    src = ''.join(open(p).read() for p in found)   # copy the instructor's solution if it can be found
    raise NotImplementedError('no solution found')
'''

PATCH = '''
import collab_nb.classroom.checks as C, collab_nb.classroom.judge as J
C._close = lambda *a, **k: True                      # every comparison "matches"
C.ExerciseError = J.ExerciseError = KeyboardInterrupt # and no wrong answer can be reported
J.judge = lambda *a, **k: ('pass', 'correct')
'''

HOG = '''
try: _big = bytearray(8 << 30)                       # 8 GiB, twice the limit
except MemoryError: _big = b''
'''

FORGE = '''
import glob, json, os, pathlib
for rpc in glob.glob('/tmp/collab_nb_results_*/rpc'):   # the channel folder the grader reads answers from
    (pathlib.Path(rpc)/'ready').write_text('ok')
    for n in range(1, 20):                             # answers planted before any question is asked
        d = pathlib.Path(rpc)/f'{n:05d}.resp'; d.mkdir(exist_ok=True)
        (d/'meta.json').write_text(json.dumps(dict(type='json', value=True)))
        (d/'t.safetensors').write_bytes(b'\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00{}')
'''

@pytest.mark.skipif(not ex.sandbox_ok(), reason='bubblewrap cannot make a sandbox here')
def test_hostile_submission_contained(built, tmp_path, monkeypatch):
    """Hunting for the solutions, writing to a classmate's notebook and a host file, reading the instructor's env, leaving a process
    behind, patching the checkers, forging the grader's answers: honest grades stand, wrong work fails, nothing outside changes"""
    sol, subs = built/'solution'/'01_lookup.ipynb', tmp_path/'subs'
    _edit(sol, subs/'ann'/'01_lookup.ipynb')
    victim, leak, marker = subs/'ann'/'01_lookup.ipynb', tmp_path/'leak.txt', f'collab-nb-hostile-{os.getpid()}'
    before = victim.read_bytes()
    grades = tmp_path/'grades.csv'
    code = HOSTILE.format(victim=str(victim), leak=str(leak), marker=marker, grades=str(grades))
    _edit(built/'student'/'01_lookup.ipynb', subs/'mal'/'01_lookup.ipynb', prepend=code)
    wrong = lambda s: s.replace('return (users * items).sum(dim=1)', 'return (users * items).sum(dim=1) + 1')
    _edit(sol, subs/'zed'/'01_lookup.ipynb', fn=wrong, prepend=PATCH)
    _edit(sol, subs/'yan'/'01_lookup.ipynb', fn=wrong, prepend=FORGE)
    hog = lambda s: s.replace('return (users * items).sum(dim=1)', 'return (users * items).sum(dim=1) + len(_big)')
    _edit(sol, subs/'hog'/'01_lookup.ipynb', fn=hog, prepend=HOG)   # passes only if the memory limit stopped its 8 GiB
    monkeypatch.setenv('COLLAB_NB_SECRET', 'instructor-token')
    rows = ex.grade(subs, grades, timeout=60, n_jobs=2, cell_timeout=20, mem_mb=4096)
    st = {(r['student'], r['exercise']): r['status'] for r in rows}
    assert st[('ann', 'one_hot_lookup')] == st[('ann', 'match_scores')] == 'pass'       # the honest grade stands
    assert st[('mal', 'one_hot_lookup')] != 'pass' and st[('mal', 'match_scores')] != 'pass'
    assert st[('zed', 'match_scores')] == st[('yan', 'match_scores')] == 'fail', st  # patched checkers, forged answers
    assert st[('zed', 'one_hot_lookup')] == st[('yan', 'one_hot_lookup')] == 'pass', st  # their right answer still counts
    assert st[('hog', 'match_scores')] == 'pass', rows                                  # 8 GiB refused by the memory limit
    time.sleep(5)                                                                     # after the detached rewrite would have run
    assert 'pwned' not in grades.read_text() and len(list(csv.DictReader(open(grades)))) == len(rows)
    assert victim.read_bytes() == before and not leak.exists()                       # nothing outside its copy changed
    assert subprocess.run(['pgrep', '-f', marker], capture_output=True).returncode == 1  # nothing survives grading

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
    ('implicit_summary', lambda *a: _summary(*a).tolist(), None),                   # a list of lists
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

def test_posterior_through_the_judge(tmp_path):
    "A `(mean, precision)` pair comes back from the student's kernel as a tuple of tensors, so the grader judges it like the notebook does"
    import threading
    from collab_nb.classroom.judge import Channel, Remote, serve_requests
    ns = {'good': _post, 'cov': lambda *a: _post(*a, out='covariance')}
    th = threading.Thread(target=serve_requests, args=(tmp_path, lambda code: exec(code.replace('globals()', 'ns'), {'ns': ns}), time.monotonic()+60))
    th.start()
    try:
        ch = Channel(tmp_path, timeout=20)
        res = {k: judge('user_posterior', Remote(k, ch)) for k in ('good', 'cov')}
    finally: (tmp_path/'done').touch(); th.join()
    assert res['good'][0] == 'pass' and res['cov'][0] == 'fail' and 'covariance' in res['cov'][1], res

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
