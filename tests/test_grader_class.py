"""The grader on a small class of tiny notebooks, graded once through `collab-nb grade`: honest, wrong, crashing and
looping students, and students who attack the grader (as root, where CI runs it): escaping the sandbox, planting links
and FIFOs in the channel, lying about answers, exhausting memory, processes and disk, handing in the package's own
answers, hunting for the solutions. Each attack has its own test; all read the one graded sheet."""
import csv
import json
import subprocess
import threading
import time
from pathlib import Path

import nbformat
import pytest
from filelock import FileLock

from collab_nb.classroom.grader import GRADE_FIELDS, sandbox_ok
from collab_nb.classroom.sandbox import _own_dir

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT, CELL = 20, 8  # seconds for each notebook and for each cell or call: tiny notebooks, on a CI machine that may be loaded
pytestmark = pytest.mark.skipif(not sandbox_ok(), reason='bubblewrap cannot make a sandbox here')

IMPORTS = 'import os, sys, glob, json, time, subprocess, pathlib, threading\nimport torch, torch.nn.functional as F'
LOOKUP = 'def one_hot_lookup(idx, weight): return F.one_hot(idx, weight.shape[0]).float() @ weight'
SCORES = 'def match_scores(users, items): return (users * items).sum(dim=1)'
CHECKS = ['check_one_hot_lookup(one_hot_lookup)', 'check_match_scores(match_scores)']

def tiny(path:Path, *cells, lesson='01_lookup'):
    "Write a notebook of code cells `cells` for `lesson`"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata['collab_nb'] = dict(lesson=lesson, version='student')
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)

def honest(*extra): return [IMPORTS, *extra, LOOKUP, SCORES, *CHECKS]

# --- the attacks, as notebook cells. Each records what worked in BAD; `match_scores` raises naming it, so the verdict
# --- says which attack got through (and a contained attacker passes)
REPORT = '''
def match_scores(users, items):
    if BAD: raise ValueError('attacks that worked: ' + ', '.join(BAD))
    return (users * items).sum(dim=1)'''

ESCAPE = r'''
BAD = []
VICTIM, SECRET, MADE = {victim!r}, {secret!r}, {made!r}
caps = open('/proc/self/status').read().split('CapEff:')[1].split()[0]
if os.getuid() == 0: BAD.append('runs as root')
if int(caps, 16): BAD.append('has capabilities ' + caps)
run = lambda *c: subprocess.run(list(c), capture_output=True).returncode == 0
for m in ('/tmp', '/root', '/home', VICTIM.rsplit('/', 2)[0]):       # uncover what the sandbox hides
    while run('umount', m): BAD.append('umount ' + m)
for m in ('/', '/tmp', VICTIM.rsplit('/', 2)[0]):                     # and make it writable
    if run('mount', '-o', 'remount,rw', m) or run('mount', '-o', 'remount,bind,rw', m): BAD.append('remount rw ' + m)
if run('mount', '-t', 'tmpfs', 'big', '/mnt'): BAD.append('mount tmpfs')
try: open('/etc/shadow').read(); BAD.append('read /etc/shadow')
except OSError: pass
for f in (VICTIM, SECRET):                                             # a waiting classmate's notebook, the instructor's file
    try: open(f, 'a').write('pwned'); BAD.append('wrote ' + f)
    except OSError: pass
subprocess.Popen(['sh', '-c', 'sleep 20; echo pwned >> ' + SECRET + ' # collab-nb-marker'], start_new_session=True)
def channels():
    "`(own, others)`: the grader's channel folders in reach (on the old design: next to each child's submitted.ipynb)"
    own = set()
    for c in glob.glob('/proc/[0-9]*/cmdline'):
        try: args = open(c, 'rb').read().split(b'\0')
        except OSError: continue
        own |= {{str(pathlib.Path(a.decode()).parent/'rpc') for a in args if a.endswith(b'submitted.ipynb')}}
    return [r for r in own if os.path.isdir(r)], [r for r in glob.glob('/tmp/collab_nb_results_*/rpc') if r not in own]
def plant(rpc):
    "Links named like the first requests (to a classmate's notebook) and like `done` (to a new file), FIFOs named like the later requests"
    for n in range(1, 40):
        try: os.symlink(VICTIM, f'{{rpc}}/.{{n:05d}}.req') if n < 3 else os.mkfifo(f'{{rpc}}/.{{n:05d}}.req')
        except OSError: pass
    try: os.symlink(MADE, f'{{rpc}}/done')
    except OSError: pass
def haunt():
    "For a few seconds, plant links in every channel folder in reach, and mark the others' as crashed"
    end = time.time() + 5
    while time.time() < end:
        own, others = channels()
        for rpc in own + others: plant(rpc)
        for rpc in others:
            try: open(rpc + '/ready', 'w').write('crash: pwned'); BAD.append('marked ' + rpc)
            except OSError: pass
        time.sleep(0.1)
os.makedirs('rpc', exist_ok=True); plant('rpc')
haunt()'''

THIEF = r'''
BAD = []
import collab_nb, collab_nb.classroom.handout as h
repo = pathlib.Path(collab_nb.__file__).parents[1]
if list(h.exercises_dir().glob('*.ipynb')): BAD.append('the exercise sources')
try:
    if subprocess.run(['git', '-C', str(repo), 'show', 'HEAD:collab_nb/classroom/exercises/01_lookup.ipynb'], capture_output=True).returncode == 0: BAD.append('git show')
except OSError: pass
for root, dirs, files in os.walk(repo):
    dirs[:] = [d for d in dirs if d not in ('site-packages', '__pycache__')]
    for f in files:
        try:
            if f.endswith('.ipynb') and 'BEGIN SOLUTION' in open(os.path.join(root, f), errors='ignore').read(): BAD.append('a solution at ' + os.path.join(root, f))
        except OSError: pass
for d in ('.git', 'nbs', 'build', 'tests'):
    if (repo/d).exists(): BAD.append(f'{repo}/{d} visible')
from collab_nb.lookup import onehot_lookup, match_score   # the package's own answers, handed in below
saved = onehot_lookup
def one_hot_lookup(idx, weight): return saved(idx, weight)'''

LIAR = r'''
torch.autograd.grad = lambda outputs, inputs, *a, **k: [torch.zeros(1) for _ in inputs]   # gradients of the wrong shape
def inject():
    "Write a frame that claims an exabyte into every pipe of the grading child in reach"
    for c in glob.glob('/proc/[0-9]*/cmdline'):
        args = open(c, 'rb').read().split(b'\0')[:-1]
        if len(args) > 3 and b'python' in args[0] and b'child_main' in args[2]:
            try:
                with open(f"/proc/{c.split('/')[2]}/fd/{json.loads(args[3])['wfd']}", 'wb') as w: w.write((1 << 60).to_bytes(8, 'big') + (1).to_bytes(8, 'big'))
            except OSError: pass
def grow():
    "The size race: keep growing every answer file in reach, this design's and the old one's"
    dirs = {os.path.expanduser('~/.judge')} | {str(pathlib.Path(a.decode()).parent/'rpc') for c in glob.glob('/proc/[0-9]*/cmdline')
                                               for a in open(c, 'rb').read().split(b'\0') if a.endswith(b'submitted.ipynb')}
    for _ in range(1000):                                      # at most 1 GiB in all
        for f in [g for d in dirs for g in glob.glob(d + '/*.resp') + glob.glob(d + '/*.resp/t.safetensors')][:1]:
            try: open(f, 'ab').write(b'\0' * (1 << 20))
            except OSError: pass
        time.sleep(0.001)
def match_scores(users, items):
    inject()
    threading.Thread(target=grow, daemon=True).start()
    return (users * items).sum(dim=1)'''

HOG = r'''
BAD = []
def fill(d, cap=300):
    "Write up to `cap` MiB into folder `d`; the MiB written"
    os.makedirs(d, exist_ok=True)
    n = 0
    try:
        with open(f'{d}/fill', 'wb') as f:
            while n < cap: f.write(b'x' * (1 << 20)); f.flush(); n += 1
    except OSError: pass
    finally:
        try: os.remove(f'{d}/fill')
        except OSError: pass
    return n
for d in ('/dev/shm', '/tmp', os.getcwd()):
    if fill(d) >= 300: BAD.append(f'300 MiB written to {d}')'''

HOG_PROCS = r'''
forker = "import os, time\nn = 0\nfor _ in range(600):\n    try: pid = os.fork()\n    except OSError: break\n    if pid == 0: time.sleep(30); os._exit(0)\n    n += 1\nprint(n, flush=True)\nos.killpg(0, 9)"
started = subprocess.run([sys.executable, '-c', forker], capture_output=True, start_new_session=True).stdout.split()
if started and int(started[0]) >= 600: BAD.append('600 processes')'''

HOG_MEMORY = r'''
hog = "open('/proc/self/oom_score_adj', 'w').write('1000'); b = b'x' * (1200 << 20); print('full', flush=True); import time; time.sleep(60)"
hogs = [subprocess.Popen([sys.executable, '-c', hog], stdout=subprocess.PIPE) for _ in range(3)]
full = [h.stdout.readline() == b'full\n' for h in hogs]   # each is full, or was killed on the way
time.sleep(1)
if all(full) and all(h.poll() is None for h in hogs): BAD.append('three processes of 1.2 GB')
for h in hogs: h.kill(); h.wait()'''

DAN = 'import time\nwhile True:\n    try: time.sleep(0.05)\n    except KeyboardInterrupt: pass'

def _class(d:Path)->dict:
    "Write the class's notebooks under `d`; returns the files the attackers must not change"
    subs, secret, made = d/'subs', d/'instructor'/'secret.txt', d/'instructor'/'made-by-a-student'
    secret.parent.mkdir(parents=True); secret.write_text('the instructor\'s own file\n')
    victim = subs/'zoe'/'01_lookup.ipynb'
    tiny(victim, *honest())
    tiny(subs/'amy'/'01_lookup.ipynb', IMPORTS, ESCAPE.format(victim=str(victim), secret=str(secret), made=str(made)), LOOKUP, REPORT, *CHECKS)
    tiny(subs/'bob'/'01_lookup.ipynb', 'import os, shutil; shutil.rmtree(os.getcwd(), ignore_errors=True)', IMPORTS,
         'def one_hot_lookup(idx, weight):\n    raise NotImplementedError("replace this line with your solution")',
         'def match_scores(users, items): return users @ items.T', *CHECKS)
    tiny(subs/'cat'/'01_lookup.ipynb', 'import os; os._exit(1)', *honest())
    tiny(subs/'dan'/'01_lookup.ipynb', DAN, *honest())
    tiny(subs/'hog'/'01_lookup.ipynb', IMPORTS, HOG, HOG_PROCS, HOG_MEMORY, REPORT, *CHECKS,   # a cell each: each within its cell time
         'def one_hot_lookup(idx, weight):\n    while True: pass')                                 # and a loop inside one exercise
    tiny(subs/'liar'/'01_lookup.ipynb', IMPORTS, LOOKUP, LIAR, *CHECKS)
    tiny(subs/'thief'/'01_lookup.ipynb', IMPORTS, THIEF, REPORT, *CHECKS)
    (subs/'nil'/'01_lookup.ipynb').parent.mkdir(); (subs/'nil'/'01_lookup.ipynb').write_text('{"cells": [')
    (subs/'num'/'01_lookup.ipynb').parent.mkdir()
    (subs/'num'/'01_lookup.ipynb').write_text(json.dumps(dict(nbformat=4, nbformat_minor=5, metadata={}, cells=[
        dict(cell_type='code', id='a', source=42, metadata={}, outputs=[], execution_count=None)])))
    (subs/'sym').mkdir(); (subs/'sym'/'01_lookup.ipynb').symlink_to(victim)
    return dict(subs=subs, victim=victim, secret=secret, made=made, before={str(p): p.read_bytes() for p in (victim, secret)})

def _grade(d:Path)->dict:
    "Grade the class through `collab-nb grade` (in a thread, so that a grader frozen by a FIFO fails instead of hanging)"
    from collab_nb.cli import run
    files, out = _class(d), d/'grades.csv'
    res, t = {}, time.monotonic()
    argv = ['grade', str(files['subs']), '--out', str(out), '--timeout', str(TIMEOUT), '--cell-timeout', str(CELL), '--n-jobs', '3', '--mem-mb', '2048', '--json']
    th = threading.Thread(target=lambda: res.update(zip(('rc', 'out', 'err'), run(argv))), daemon=True)
    th.start(); th.join(300)
    assert not th.is_alive(), "the grader froze: it did not finish within 300 s"
    survivors = subprocess.run(['pgrep', '-f', 'collab-nb-marker'], capture_output=True).stdout.decode().split()
    own = [d for d in (_own_dir('memory'), _own_dir('pids'), _own_dir('')) if d]
    leaked = [str(c) for d in own for c in d.glob('collab_nb-*') if not (c/'cgroup.procs').read_text().strip()]  # a running sandbox's has processes
    return dict(files, rc=res['rc'], err=res['err'], summary=json.loads(res['out'] or 'null'), seconds=time.monotonic() - t,
                rows=list(csv.DictReader(open(out))) if out.exists() else [], survivors=survivors, leaked=leaked,
                after={str(p): p.read_bytes() if p.exists() else None for p in (files['victim'], files['secret'])})

@pytest.fixture(scope='session')
def graded(tmp_path_factory, worker_id):
    "The class, graded once per test run (pytest-xdist workers share it through a lock and a JSON file)"
    if worker_id == 'master': return _grade(tmp_path_factory.mktemp('class'))
    shared = tmp_path_factory.getbasetemp().parent
    with FileLock(str(shared/'grader_class.lock')):
        cache = shared/'grader_class.json'
        if not cache.exists():
            res = _grade(shared/'grader_class')
            res = {k: ({p: (b.decode('latin-1') if b is not None else None) for p, b in v.items()} if k in ('before', 'after') else str(v) if isinstance(v, Path) else v) for k, v in res.items()}
            cache.write_text(json.dumps(res))
        res = json.loads(cache.read_text())
    for k in ('before', 'after'): res[k] = {p: (b.encode('latin-1') if b is not None else None) for p, b in res[k].items()}
    return {k: Path(v) if k in ('subs', 'victim', 'secret', 'made') else v for k, v in res.items()}

def verdicts(g, student)->dict: return {r['exercise']: (r['status'], r['message']) for r in g['rows'] if r['student'] == student}

def test_grade_cli_statuses(graded):
    "Correct, wrong and unwritten (after deleting its folder), crashing, looping (uninterruptibly / inside one exercise): the right CSV, in time"
    g = graded
    assert g['rc'] == 0, g['err']
    assert list(g['rows'][0]) == GRADE_FIELDS
    st = lambda s: {e: v[0] for e, v in verdicts(g, s).items()}
    assert st('zoe') == dict(one_hot_lookup='pass', match_scores='pass'), g['rows']
    assert st('bob') == dict(one_hot_lookup='fail', match_scores='fail')
    assert 'every user against every item' in verdicts(g, 'bob')['match_scores'][1] and 'not written yet' in verdicts(g, 'bob')['one_hot_lookup'][1]
    assert st('cat') == dict(one_hot_lookup='crash', match_scores='crash') and 'kernel died' in verdicts(g, 'cat')['match_scores'][1]
    assert st('dan') == dict(one_hot_lookup='timeout', match_scores='timeout') and 'did not finish within' in verdicts(g, 'dan')['match_scores'][1]
    assert st('hog')['one_hot_lookup'] == 'timeout' and 'did not answer in time' in verdicts(g, 'hog')['one_hot_lookup'][1]   # a loop inside one exercise
    assert g['summary']['students'] == len({r['student'] for r in g['rows']}) and g['summary']['per_student']['zoe'] == 2
    assert max(float(r['seconds']) for r in g['rows']) < 60 + 2*TIMEOUT + 30  # the watchdog's bound

def test_root_cannot_escape(graded):
    "As root: no root, no capability, no mount, no write to a waiting classmate's notebook or the instructor's files, nothing left running"
    g = graded
    assert verdicts(g, 'amy')['match_scores'] == ('pass', verdicts(g, 'amy')['match_scores'][1]), verdicts(g, 'amy')
    assert g['after'] == g['before'], "an attacker changed a classmate's notebook or the instructor's file"
    assert g['survivors'] == [], f"processes outlived their sandbox: {g['survivors']}"
    assert g['leaked'] == [], f"cgroups left behind: {g['leaked'][:3]}"

def test_channel_links_and_fifos_harmless(graded):
    "Links named like the next request or `done`, and a FIFO for the answer, in every channel folder in reach: the grader neither follows them nor freezes"
    g = graded
    assert not g['made'].exists(), "the grader created a file where a student's link pointed"
    assert [st for st, _ in verdicts(g, 'bob').values()] == ['fail', 'fail'], verdicts(g, 'bob')   # graded beside the attacker, not marked crashed
    assert g['after'][str(g['victim'])] == g['before'][str(g['victim'])]

def test_lying_kernel_costs_only_itself(graded):
    "Gradients of the wrong shape, a frame that claims an exabyte, answer files that keep growing: that student's problem only; the sheet is written"
    v = verdicts(graded, 'liar')
    assert v['one_hot_lookup'][0] == 'crash' and 'shapes' in v['one_hot_lookup'][1], v
    assert v['match_scores'][0] in ('pass', 'crash'), v   # the growing answer was read within its bound, or refused
    assert {r['student'] for r in graded['rows']} >= {'zoe', 'hog', 'thief'}

def test_bad_notebooks_become_their_own_error_rows(graded):
    "A corrupt notebook, one whose cell source is a number, and a link to a classmate's notebook: one error row each, naming the file"
    for s, words in (('nil', 'is not a valid notebook'), ('num', 'is not a valid notebook'), ('sym', 'symbolic link')):
        rows = [r for r in graded['rows'] if r['student'] == s]
        assert len(rows) == 1 and rows[0]['status'] == 'error' and words in rows[0]['message'] and '01_lookup.ipynb' in rows[0]['message'], rows

def test_whole_notebook_limits_hold(graded):
    "300 MiB into /dev/shm, /tmp and the working folder, 600 processes, three 1.2 GB processes under 2048 MiB: each stopped"
    assert verdicts(graded, 'hog')['match_scores'][0] == 'pass', verdicts(graded, 'hog')

def test_answer_key_hidden_and_trapped(graded):
    "No copy of the solutions in reach (exercise sources, git, the repository), and the package's own implementation handed in fails"
    v = verdicts(graded, 'thief')
    assert v['match_scores'][0] == 'pass', v   # nothing found
    assert v['one_hot_lookup'][0] == 'fail' and 'hands in `collab_nb.lookup.onehot_lookup`' in v['one_hot_lookup'][1], v
