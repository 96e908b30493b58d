"`collab-nb train / evaluate / recommend` as a user runs them: JSON results, safe model folders, exit 2 on bad input."
import json
import shutil
import sys
from pathlib import Path

import pytest

EXE = shutil.which('collab-nb') or str(Path(sys.executable).with_name('collab-nb'))

def run(*args):
    "`(exit status, stdout, stderr)` of `collab-nb args`, in-process (the console script itself is tested below)"
    from collab_nb.cli import run as cli_run
    rc, out, err = cli_run([str(a) for a in args])
    return rc, out, err

@pytest.fixture(scope='module')
def u1_model(tmp_path_factory):
    out = tmp_path_factory.mktemp('models')/'u1'
    rc, so, se = run('train', '--fold', 'u1', '--model', 'dot-bias', '--epochs', '4', '--ranker', 'none', '--out', out, '--json')
    assert rc == 0, se
    return out, json.loads(so)

def test_train_json(u1_model):
    out, res = u1_model
    for k in ('model', 'n_train', 'n_valid', 'n_test', 'test_mse', 'test_rmse', 'seconds'): assert k in res, k
    assert (res['n_train'], res['n_valid'], res['n_test'], res['model']) == (80_000, 0, 20_000, 'dot-bias')  # the final fit: no valid part
    assert res['test_rmse'] < 1.0 and abs(res['test_mse'] - res['test_rmse']**2) < 1e-4 and 'valid_rmse' not in res
    assert sorted(p.name for p in out.iterdir()) == ['config.json', 'model.safetensors', 'seen.safetensors', 'vocab.json']  # a ranker beside it: test_ranking.py

def test_train_random_split_synthetic(tmp_path):
    rc, so, se = run('train', '--ranker', 'none', '--data', 'synthetic', '--epochs', '3', '--test-pct', '0.25', '--valid-pct', '0.2', '--json')
    assert rc == 0, se
    res = json.loads(so)
    assert (res['n_train'], res['n_valid'], res['n_test']) == (21_600, 5_400, 9_000) and res['data'] == 'synthetic'
    assert 0.5 < res['valid_rmse'] < 2 and res['valid_rmse'] != res['test_rmse']
    assert 'Traceback' not in se and '%' not in so   # no progress bar when stdout is not a terminal

def test_evaluate_same_fold(u1_model):
    out, res = u1_model
    rc, so, se = run('evaluate', '--model', out, '--fold', 'u1', '--json')
    assert rc == 0, se
    ev = json.loads(so)
    for k in ('rmse', 'mae', 'precision_at_10', 'ndcg_at_10'): assert 0 <= ev[k] < 2, k
    assert abs(ev['rmse'] - res['test_rmse']) < 1e-4

@pytest.mark.slow
def test_evaluate_all_folds(u1_model):
    out, _ = u1_model
    rc, so, se = run('evaluate', '--model', out, '--fold', 'all', '--json')
    assert rc == 0, se
    ev = json.loads(so)
    assert list(ev['folds']) == ['u1', 'u2', 'u3', 'u4', 'u5']
    assert abs(ev['rmse'] - sum(f['rmse'] for f in ev['folds'].values())/5) < 1e-5

def test_recommend_known_user(u1_model):
    out, _ = u1_model
    rc, so, se = run('recommend', '--model', out, '--user', '42', '-n', '10', '--json')
    assert rc == 0, se
    recs = json.loads(so)
    assert len(recs) == 10 and set(recs[0]) == {'item', 'title', 'score'}
    from collab_nb.data import movielens_fold
    trn, _ = movielens_fold('u1')
    assert not {r['item'] for r in recs} & set(trn[trn.user==42].movie)

def test_recommend_new_user(u1_model):
    out, _ = u1_model
    rc, so, se = run('recommend', '--model', out, '--rate', 'Star Wars (1977)=5,172=5,Sleepless in Seattle=1', '-n', '5', '--json')
    assert rc == 0, se
    recs = json.loads(so)
    assert len(recs) == 5 and not {r['item'] for r in recs} & {50, 172, 88}
    rc, so, se = run('recommend', '--model', out, '--rate', '50=5,172=5,88=1', '-n', '3')
    assert rc == 0 and so.splitlines()[0].split('\t') == ['item', 'title', 'score']

@pytest.fixture(scope='module')
def corrupt(u1_model, tmp_path_factory):
    d = tmp_path_factory.mktemp('bad')/'m'
    shutil.copytree(u1_model[0], d)
    (d/'model.safetensors').write_bytes((d/'model.safetensors').read_bytes()[:1000])
    return d

BAD = [
    (['recommend', '--model', '{m}', '--user', '99999'], "error: unknown user id '99999'"),
    (['recommend', '--model', '{m}', '--rate', 'No Such Film (2031)=5'], "error: unknown item or title 'No Such Film (2031)'"),
    (['recommend', '--model', '{m}', '--rate', '50=5,172'], "error: --rate '50=5,172' is malformed"),
    (['recommend', '--model', '{m}', '--rate', '50=5;172=4'], "error: --rate '50=5;172=4' is malformed"),
    (['recommend', '--model', '{m}', '--rate', '50:5,172=4'], "error: unknown item or title '50:5,172' (is a comma"),
    (['recommend', '--model', '{m}', '--rate', '50=9'], "error: --rate ratings out of range"),
    (['recommend', '--model', '{m}', '--user', '42', '--rate', '50=5'], "error: give exactly one of --user"),
    (['recommend', '--model', '{bad}', '--user', '42'], "error: {bad}/model.safetensors does not match the checksum"),
    (['recommend', '--model', '/no/such/model', '--user', '42'], "error: model folder not found: /no/such/model"),
    (['evaluate', '--model', '{bad}'], "error: {bad}/model.safetensors does not match the checksum"),
    (['evaluate', '--model', '{m}', '--fold', 'u2'], "error: --fold u2: the model was trained on fold u1"),
    (['evaluate', '--model', '{m}', '--fold', 'u9'], "error: unknown fold 'u9'"),
    (['train', '--data', 'ml-100k', '--data-dir', '/no/such/folder'], "error: ml-100k not found"),
    (['train', '--data', '/no/such/ratings.csv'], "error: ratings file not found"),
    (['train', '--model', 'svd'], "error: --model 'svd': unknown model"),
    # every option checked up front, by one rule per kind (issue 13, item 10/11)
    (['train', '--bs', '0'], "error: --bs 0"), (['train', '--n-factors', '0'], "error: --n-factors 0"),
    (['train', '--epochs', '0'], "error: --epochs 0"), (['train', '--lr', 'nan'], "error: --lr nan"),
    (['train', '--wd', 'nan'], "error: --wd nan"), (['train', '--lr', '-1'], "error: --lr -1"),
    (['train', '--nproc', '0'], "error: --nproc 0"), (['train', '--valid-pct', '1'], "error: --valid-pct 1"),
    (['train', '--bs', 'x'], "error: argument --bs"), (['train', '--out', ''], "error: --out is empty"),
    (['train', '--out', '{m}/config.json'], "error: --out {m}/config.json is a file"),
    (['train', '--data', 'auto', '--data-dir', '/no/such/folder'], "error: ml-100k not found"),
    (['evaluate', '--model', '{m}', '--k', '0'], "error: --k 0"), (['evaluate', '--model', '{m}', '--k', '1e9'], "error: argument -k/--k"),
    (['evaluate', '--model', '{m}', '--k', '1000000000'], "error: --k 1000000000"),
    (['recommend', '--model', '{m}', '--user', '42', '-n', '0'], "error: --n 0"),
    (['recommend', '--model', '{m}', '--user', '42', '--all-users'], "error: give exactly one of --user"),
    (['recommend', '--user', '42'], "error: --model DIR is required"),
    (['frobnicate'], "error: argument COMMAND: invalid choice"),
]

@pytest.mark.parametrize('args,msg', BAD, ids=[m.split(':')[1].strip()[:30] for _,m in BAD])
def test_bad_input_exit_2(u1_model, corrupt, args, msg, capsys):
    "In-process (`cli.main`), to save a Python start-up per case"
    from collab_nb.cli import main
    m, bad = u1_model[0], corrupt
    rc = main([a.format(m=m, bad=bad) for a in args])
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    assert err.startswith(msg.format(m=m, bad=bad)) and len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err

def test_out_refuses_a_folder_of_other_files(tmp_path):
    (tmp_path/'notes').mkdir(); (tmp_path/'notes'/'mine.txt').write_text('keep me')
    rc, so, se = run('train', '--ranker', 'none', '--data', 'synthetic', '--epochs', '1', '--out', tmp_path/'notes')
    assert rc == 2 and 'not a collab_nb model' in se and (tmp_path/'notes'/'mine.txt').read_text() == 'keep me'
    rc, so, se = run('train', '--ranker', 'none', '--data', 'synthetic', '--epochs', '1', '--out', tmp_path/'notes', '--force')
    assert rc == 0, se

def test_json_has_no_nan_and_small_data_trains(tmp_path):
    "A 1-10 scale trains on its own range (y_range from the data); fewer ratings than a batch still train; JSON has no NaN"
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(0)
    df = pd.DataFrame({'user': rng.integers(1, 30, 600), 'movie': rng.integers(1, 20, 600)}).drop_duplicates()
    df['rating'] = ((df.user % 5) + (df.movie % 5) + 1).astype(float)   # 1..9: a learnable 1-10 scale
    df.to_csv(tmp_path/'r10.csv', index=False)
    rc, so, se = run('train', '--ranker', 'none', '--data', tmp_path/'r10.csv', '--epochs', '30', '--lr', '0.05', '--out', tmp_path/'m10', '--json')
    assert rc == 0, se
    res = json.loads(so)
    assert res['test_mse'] < 2.0, res          # squashed into (0, 5.5) it was 5.8
    assert json.loads((tmp_path/'m10'/'config.json').read_text())['y_range'] == [0.0, 9.9]
    one = lambda e: json.loads(run('train', '--ranker', 'none', '--data', tmp_path/'r10.csv', '--bs', '100000', '--epochs', str(e), '--json')[1])['test_mse']
    assert one(1) != one(15), "fewer ratings than one batch: training did nothing"
    rc, so, se = run('train', '--ranker', 'none', '--data', tmp_path/'r10.csv', '--epochs', '1', '--test-pct', '0', '--valid-pct', '0', '--json')
    assert rc == 0 and 'NaN' not in so and json.loads(so)['test_mse'] is None and 'valid_mse' not in json.loads(so)

def test_bad_input_exit_2_console_script(corrupt):
    "A damaged model folder: exit status 2, one line on stderr, nothing on stdout (the console script itself: test_cli.py)"
    rc, so, se = run('recommend', '--model', corrupt, '--user', '42', '--json')
    assert rc == 2 and so == '' and se.startswith('error: ') and len(se.strip().splitlines()) == 1, se

def test_data_auto_falls_back_to_synthetic(tmp_path, monkeypatch, capsys):
    from collab_nb.cli import main
    monkeypatch.setenv('COLLAB_NB_DATA', str(tmp_path))   # no MovieLens there
    assert main(['train', '--epochs', '1', '--ranker', 'none', '--json']) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)['data'] == 'synthetic' and err.startswith('note: ml-100k not found') and len(err.strip().splitlines()) == 1

def test_csv_without_titles(tmp_path, capsys):
    "Any ratings CSV works end to end; items are named by id when there are no titles"
    from collab_nb.cli import main
    from collab_nb.data import synth_ratings
    df, _ = synth_ratings(n_users=60, n_items=40, density=0.4, seed=2)
    df[['user','movie','rating']].to_csv(tmp_path/'r.csv', index=False)
    assert main(['train', '--data', str(tmp_path/'r.csv'), '--epochs', '2', '--ranker', 'none', '--out', str(tmp_path/'m'), '--json']) == 0
    res = json.loads(capsys.readouterr().out)
    assert (res['n_train'], res['n_valid']) == (768, 0)
    assert main(['recommend', '--model', str(tmp_path/'m'), '--rate', '1=5,2=1', '-n', '3', '--min-ratings', '0', '--json']) == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 3 and all(r['title'] == str(r['item']) for r in recs)
    assert main(['recommend', '--model', str(tmp_path/'m'), '--rate', 'Alien=5']) == 2
    assert 'this model has no titles: use an item id' in capsys.readouterr().err
