"`collab-nb train / evaluate / recommend` as a user runs them: JSON results, safe model folders, exit 2 on bad input."
import json, shutil, subprocess, sys
from pathlib import Path
import pytest

EXE = shutil.which('collab-nb') or str(Path(sys.executable).with_name('collab-nb'))

def run(*args):
    r = subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout, r.stderr

@pytest.fixture(scope='module')
def u1_model(tmp_path_factory):
    out = tmp_path_factory.mktemp('models')/'u1'
    rc, so, se = run('train', '--fold', 'u1', '--model', 'dot-bias', '--epochs', '4', '--out', out, '--json')
    assert rc == 0, se
    return out, json.loads(so)

def test_train_json(u1_model):
    out, res = u1_model
    for k in ('model', 'n_train', 'n_valid', 'valid_mse', 'valid_rmse', 'seconds'): assert k in res, k
    assert (res['n_train'], res['n_valid'], res['model']) == (80_000, 20_000, 'dot-bias')
    assert res['valid_rmse'] < 1.0 and abs(res['valid_mse'] - res['valid_rmse']**2) < 1e-4
    assert sorted(p.name for p in out.iterdir()) == ['config.json', 'model.safetensors', 'seen.safetensors', 'vocab.json']

def test_train_random_split_synthetic(tmp_path):
    rc, so, se = run('train', '--data', 'synthetic', '--epochs', '3', '--valid-pct', '0.25', '--json')
    assert rc == 0, se
    res = json.loads(so)
    assert (res['n_train'], res['n_valid']) == (27_000, 9_000) and res['data'] == 'synthetic'
    assert 'Traceback' not in se and '%' not in so   # no progress bar when stdout is not a terminal

def test_evaluate_same_fold(u1_model):
    out, res = u1_model
    rc, so, se = run('evaluate', '--model', out, '--fold', 'u1', '--json')
    assert rc == 0, se
    ev = json.loads(so)
    for k in ('rmse', 'mae', 'precision_at_10', 'ndcg_at_10'): assert 0 <= ev[k] < 2, k
    assert abs(ev['rmse'] - res['valid_rmse']) < 1e-4

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
    import pandas as pd
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
    (['recommend', '--model', '{m}', '--rate', '50=5,172'], "error: malformed --rate"),
    (['recommend', '--model', '{m}', '--rate', '50=5;172=4'], "error: malformed --rate"),
    (['recommend', '--model', '{m}', '--rate', '50:5,172=4'], "error: unknown item or title '50:5,172' (is a comma"),
    (['recommend', '--model', '{m}', '--rate', '50=9'], "error: ratings out of range"),
    (['recommend', '--model', '{m}', '--user', '42', '--rate', '50=5'], "error: give exactly one of --user"),
    (['recommend', '--model', '{bad}', '--user', '42'], "error: {bad}/model.safetensors does not match the checksum"),
    (['recommend', '--model', '/no/such/model', '--user', '42'], "error: model folder not found: /no/such/model"),
    (['evaluate', '--model', '{bad}'], "error: {bad}/model.safetensors does not match the checksum"),
    (['evaluate', '--model', '{m}', '--fold', 'u2'], "error: the model was trained on fold u1"),
    (['evaluate', '--model', '{m}', '--fold', 'u9'], "error: unknown fold 'u9'"),
    (['train', '--data', 'ml-100k', '--data-dir', '/no/such/folder'], "error: ml-100k not found"),
    (['train', '--data', '/no/such/ratings.csv'], "error: ratings file not found"),
    (['train', '--model', 'svd'], "error: unknown model 'svd'"),
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

def test_bad_input_exit_2_console_script(corrupt):
    "The real console script: exit status 2, one line on stderr, nothing on stdout"
    rc, so, se = run('recommend', '--model', corrupt, '--user', '42', '--json')
    assert rc == 2 and so == '' and se.startswith('error: ') and len(se.strip().splitlines()) == 1, se

def test_data_auto_falls_back_to_synthetic(tmp_path):
    import os
    env = {**os.environ, 'COLLAB_NB_DATA': str(tmp_path)}   # no MovieLens there
    r = subprocess.run([EXE, 'train', '--epochs', '1', '--json'], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)['data'] == 'synthetic'

def test_csv_without_titles(tmp_path, capsys):
    "Any ratings CSV works end to end; items are named by id when there are no titles"
    from collab_nb.cli import main
    from collab_nb.data import synth_ratings
    df, _ = synth_ratings(n_users=60, n_items=40, density=0.4, seed=2)
    df[['user','movie','rating']].to_csv(tmp_path/'r.csv', index=False)
    assert main(['train', '--data', str(tmp_path/'r.csv'), '--epochs', '2', '--out', str(tmp_path/'m'), '--json']) == 0
    assert json.loads(capsys.readouterr().out)['n_train'] == 768
    assert main(['recommend', '--model', str(tmp_path/'m'), '--rate', '1=5,2=1', '-n', '3', '--min-ratings', '0', '--json']) == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 3 and all(r['title'] == str(r['item']) for r in recs)
    assert main(['recommend', '--model', str(tmp_path/'m'), '--rate', 'Alien=5']) == 2
    assert 'this model has no titles: use an item id' in capsys.readouterr().err
