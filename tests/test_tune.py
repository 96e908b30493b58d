"`collab-nb tune` as a user runs it: the test part never reaches the objective, tune → train --params → evaluate/recommend, bad input."
import json

import pandas as pd
import pytest

from collab_nb.cli import run as cli_run
from collab_nb.data import synth_ratings
from collab_nb.runs import Protocol

TRIALS = ('--trials', '6', '--hp', 'epochs=3')  # small and quick: 6 trials of 3 epochs
SMALL = dict(n_users=300, n_items=200, density=0.15, seed=5)  # 9,000 ratings: the data of these tests

def run(*args):
    "`(exit status, stdout, stderr)` of `collab-nb args`, in-process"
    return cli_run([str(a) for a in args])

@pytest.fixture(scope='module')
def csvs(tmp_path_factory):
    "The same ratings as `r.csv` in four folders: as made; test part's ratings changed; valid part's ratings changed"
    root = tmp_path_factory.mktemp('leak')
    df, _ = synth_ratings(**SMALL)
    df = df[['user', 'movie', 'rating']]
    (root/'a').mkdir(); df.to_csv(root/'a'/'r.csv', index=False)
    parts = Protocol(str(root/'a'/'r.csv')).parts()
    flip = lambda d, idx: d.assign(rating=d.rating.where(~d.index.isin(idx), 6 - d.rating))  # 1↔5, 2↔4: still 1–5 stars
    for name, idx in (('b', parts.test.index), ('c', parts.valid.index)):
        (root/name).mkdir(); flip(df, idx).to_csv(root/name/'r.csv', index=False)
    return root, parts

@pytest.fixture(scope='module')
def small(csvs):
    "The unchanged ratings file"
    return csvs[0]/'a'/'r.csv'

def _tune(root, name):
    out = root/name/'p.json'
    rc, so, se = run('tune', '--data', root/name/'r.csv', *TRIALS, '--out', out, '--force', '--json')
    assert rc == 0, se
    return out.read_bytes(), json.loads(so)

def test_test_ratings_never_reach_the_tuner(csvs):
    "Two files that differ only in the test part's ratings give byte-identical params files"
    root, parts = csvs
    a, b = pd.read_csv(root/'a'/'r.csv'), pd.read_csv(root/'b'/'r.csv')
    changed = a.index[a.rating != b.rating]
    assert len(changed) > 0.5*len(parts.test) and set(changed) <= set(parts.test.index)  # the files do differ, in the test part only
    pa, ra = _tune(root, 'a')
    pb, rb = _tune(root, 'b')
    assert pa == pb and ra['trials'] == 6
    assert json.loads(pa)['protocol']['data'] == 'r.csv'  # the file's name, not its path
    # and the test part does matter to what `train` reports: the same settings score differently on it
    rep = lambda n: json.loads(run('train', '--data', root/n/'r.csv', '--params', root/n/'p.json', '--ranker', 'none', '--json')[1])
    assert rep('a')['test_rmse'] != rep('b')['test_rmse']

def test_valid_ratings_do_reach_the_tuner(csvs):
    "The control: changing the valid part's ratings changes the study (so the identical files above are not an accident)"
    root, _ = csvs
    (pa, _), (pc, _) = _tune(root, 'a'), _tune(root, 'c')
    assert json.loads(pa)['trials'] != json.loads(pc)['trials']

def test_round_trip_tune_train_evaluate_recommend(tmp_path, small):
    rc, so, se = run('tune', '--data', small, *TRIALS, '--out', tmp_path/'p.json', '--json')
    assert rc == 0, se
    tuned = json.loads(so)
    saved = json.loads((tmp_path/'p.json').read_text())
    assert {'model', 'protocol', 'fingerprint', 'data_fingerprint', 'metric', 'best_value', 'params', 'trials'} <= set(saved)
    assert saved['metric'] == 'valid_mse' and saved['best_value'] == tuned['best_value'] and saved['params']['epochs'] == 3
    assert [t['number'] for t in saved['trials']] == list(range(6)) and {t['state'] for t in saved['trials']} <= {'COMPLETE', 'PRUNED'}
    # the same carve reproduces the tuner's valid score
    rc, so, se = run('train', '--data', small, '--params', tmp_path/'p.json', '--valid-pct', '0.2', '--ranker', 'none', '--json')
    assert rc == 0, se
    assert json.loads(so)['valid_mse'] == pytest.approx(saved['best_value'], abs=1e-6)
    # the final fit on the whole training part, saved; a flag overrides a tuned setting
    rc, so, se = run('train', '--data', small, '--params', tmp_path/'p.json', '--epochs', '4', '--ranker', 'none', '--out', tmp_path/'m', '--json')
    res = json.loads(so)
    assert rc == 0 and res['n_valid'] == 0 and res['epochs'] == 4 and res['n_factors'] == saved['params']['n_factors'], se
    rc, so, se = run('evaluate', '--model', tmp_path/'m', '--data', small, '--json')  # a file is named again, never read from a model
    assert rc == 0 and json.loads(so)['rmse'] == pytest.approx(res['test_rmse'], abs=1e-4), se
    rc, so, se = run('recommend', '--model', tmp_path/'m', '--user', '1', '-n', '3', '--json')
    assert rc == 0 and len(json.loads(so)) == 3, se

def test_shared_storage_adds_trials(tmp_path, small):
    "Two tuners on one Optuna storage add to one study"
    url = f"sqlite:///{tmp_path/'study.db'}"
    for n in (3, 6):
        rc, so, se = run('tune', '--data', small, '--trials', '3', '--hp', 'epochs=2', '--storage', url, '--json')
        assert rc == 0 and json.loads(so)['trials'] == n, se

@pytest.fixture(scope='module')
def params_file(tmp_path_factory, small):
    out = tmp_path_factory.mktemp('params')/'p.json'
    rc, so, se = run('tune', '--data', small, '--trials', '2', '--hp', 'epochs=2', '--out', out)
    assert rc == 0, se
    return out

@pytest.mark.parametrize('args, msg', [
    (['tune', '--model', 'nope'], "--model 'nope': unknown model"),
    (['tune', '--data', 'S', '--hp', 'wd=-1'], '--wd -1.0: expected a finite number ≥ 0'),
    (['tune', '--data', 'S', '--hp', 'lam=10'], "--hp lam is not a setting of 'dot-bias'"),
    (['tune', '--data', 'S', '--model', 'ease', '--hp', 'lam=10'], 'nothing is left to tune'),
    (['tune', '--data', 'S', '--valid-pct', '0'], 'tuning needs a valid part'),
    (['tune', '--data', 'S', '--trials', '0'], '--trials 0'),
    (['tune', '--data', 'S', '--storage', 'bogus://x'], "--storage 'bogus://x': cannot open it"),
    (['tune', '--data', 'S', '--out', 'P'], 'file exists; pass --force'),
    (['train', '--data', 'S', '--model', 'dot', '--params', 'P'], "tuned for model 'dot-bias', not 'dot'"),
    (['train', '--data', 'S', '--seed', '1', '--params', 'P'], 'tuned on other data or another test split'),
    (['train', '--data', 'ml-100k', '--params', 'P'], 'tuned on other data or another test split'),
    (['train', '--data', 'S', '--params', 'NOPE'], 'file not found'),
    (['train', '--data', 'S', '--params', 'BAD'], 'wd 500.0: expected a finite number ≥ 0 and ≤ 100'),
    (['train', '--data', 'S', '--params', 'JUNK'], 'not a params file written by `collab-nb tune`'),
])
def test_bad_input(args, msg, params_file, small):
    d = params_file.parent
    p = json.loads(params_file.read_text())
    (d/'bad.json').write_text(json.dumps(dict(p, params=dict(p['params'], wd=500.))))
    (d/'junk.json').write_text('[1, 2]')
    sub = dict(P=params_file, NOPE=d/'nope.json', BAD=d/'bad.json', JUNK=d/'junk.json', S=small)
    before = params_file.read_bytes()
    rc, so, se = run(*[sub.get(a, a) for a in args])
    assert rc == 2 and not so and se.startswith('error: ') and '\n' not in se and msg in se, se
    assert params_file.read_bytes() == before  # a refused --out is left as it was
