"Ranking models: sampled negatives, losses by hand, EASE against its formula, fold-in, model files and the CLI on tiny data."
import json

import pytest
import torch
import torch.nn.functional as F

from collab_nb.cli import run
from collab_nb.data import load_movielens, random_split
from collab_nb.metrics import MostPopular, ranking_metrics
from collab_nb.modelfile import load_model, load_ranker, save_model
from collab_nb.ranking import History, bpr_loss, item_logits, multinomial_nll, pair_keys, sample_negatives, with_history
from collab_nb.recommend import fold_in
from collab_nb.registry import DEFAULTS
from collab_nb.train import train_model

RANKING = [k for k, d in DEFAULTS.items() if d['kind'] == 'ranking']

@pytest.fixture(scope='module')
def data():
    "The first 150 users of ml-100k (the synthetic set rates random cells, so *which* items a user rated carries nothing)"
    df = load_movielens('ml-100k')
    return random_split(df[df.user <= 150], 0.2, 42)

def test_registered(): assert set(RANKING) == {'bce', 'bpr', 'softmax', 'dae', 'ease-dae', 'ease'}

def test_negatives_never_positives():
    g = torch.Generator().manual_seed(0)
    x = torch.stack([torch.randint(1, 20, (200,), generator=g), torch.randint(1, 30, (200,), generator=g)], 1).unique(dim=0)
    known = pair_keys(x, 30).sort().values
    neg = sample_negatives(x, known, 30, n_neg=5)
    assert neg.shape == (5*len(x), 2) and torch.equal(neg[:,0], x[:,0].repeat_interleave(5))
    assert not torch.isin(pair_keys(neg, 30), known).any() and (neg[:,1] >= 1).all() and (neg[:,1] < 30).all()
    with pytest.raises(ValueError, match='every item'): sample_negatives(torch.tensor([[1, 1]]), torch.tensor([4, 5]), 3)

def test_losses_by_hand():
    pred, targ = torch.tensor([3., 0., 1., 2.]), torch.tensor([1., 1., 0., 0.])   # each positive has one negative
    want = -(F.logsigmoid(torch.tensor(3.-1.)) + F.logsigmoid(torch.tensor(0.-2.)))/2
    assert bpr_loss(pred, targ).item() == pytest.approx(want.item())
    logits = torch.tensor([[1., 2., 3.]])
    assert multinomial_nll(logits, torch.tensor([[0., 0., 1.]])).item() == pytest.approx(F.cross_entropy(logits, torch.tensor([2])).item())
    assert multinomial_nll(logits, torch.tensor([[1., 0., 1.]])).item() == pytest.approx(-(logits.log_softmax(1)[0, [0, 2]]).sum().item())

def test_history_rows_and_bags():
    x = torch.tensor([[2, 3], [1, 1], [2, 1], [3, 2]])
    h = History(x, 4, 5, w=torch.tensor([1., 2., 3., 4.]))
    assert h.rows(torch.tensor([2, 0])).tolist() == [[0, 3, 0, 1, 0], [0]*5]
    items, w, offs = h.bag(torch.tensor([3, 2]))
    assert items.tolist() == [2, 1, 3] and w.tolist() == [4., 3., 1.] and offs.tolist() == [0, 1]

def test_ease_matches_formula(data):
    trn, _ = data
    m, vocab, dls, hp = train_model(trn, 'ease', valid_pct=0.)
    x = dls.train.dataset.x
    X = torch.zeros(vocab.n_users, vocab.n_items); X[x[:,0], x[:,1]] = 1
    P = torch.linalg.inv(X.T@X + hp['lam']*torch.eye(vocab.n_items))
    B = -P/P.diag(); B.fill_diagonal_(0)
    assert torch.allclose(m.B, B, atol=1e-5) and m.B.diag().abs().max() == 0
    assert torch.allclose(m(torch.tensor([[3, 7], [5, 2]])), (X@B)[[3, 5], [7, 2]], atol=1e-5)

@pytest.mark.parametrize('name', ['bce', 'bpr', 'softmax', 'dae', 'ease'])
def test_each_model_trains_and_beats_random(name, data):
    trn, tst = data
    m, vocab, dls, hp = train_model(trn, name, valid_pct=0.)
    r = ranking_metrics(m, vocab, tst, trn)
    rand = ranking_metrics(MostPopular(torch.rand(vocab.n_items, generator=torch.Generator().manual_seed(0))), vocab, tst, trn)
    assert r['ndcg_at_10'] > rand['ndcg_at_10'], (r['ndcg_at_10'], rand['ndcg_at_10'])

def test_history_sees_only_training_pairs(data):
    trn, tst = data
    m, vocab, dls, _ = train_model(trn, 'dae', valid_pct=0.25, epochs=2)
    hist = set(map(tuple, m.hist_x.tolist()))
    assert hist == set(map(tuple, dls.train.dataset.x.tolist()))                       # the training split, nothing else
    assert not hist & set(map(tuple, vocab.encode(dls.valid_df).tolist()))

def test_fold_in_new_user(data):
    trn, _ = data
    m, vocab, dls, _ = train_model(trn, 'dae', valid_pct=0., epochs=3)
    items = m.hist.bag(torch.tensor([5]))[0]
    new = with_history(m, items)
    x0, x5 = torch.stack([torch.zeros(vocab.n_items, dtype=torch.long), torch.arange(vocab.n_items)], 1), torch.stack([torch.full((vocab.n_items,), 5), torch.arange(vocab.n_items)], 1)
    with torch.no_grad(): assert torch.allclose(new(x0), m(x5))      # a newcomer with user 5's history scores like user 5
    assert m.hist.counts(torch.tensor([0])).item() == 0                # the trained model is untouched
    dot, *_ = train_model(trn, 'softmax', valid_pct=0.)
    f = fold_in(dot, items)
    with torch.no_grad():
        before, after = item_logits(dot, torch.tensor([0]))[0].log_softmax(0), item_logits(f, torch.tensor([0]))[0].log_softmax(0)
    assert after[items].mean() > before[items].mean() + 0.5          # the rated items moved up

@pytest.mark.parametrize('name', ['bpr', 'dae', 'ease'])
def test_model_file_round_trip(name, data, tmp_path):
    trn, tst = data
    m, vocab, dls, hp = train_model(trn, name, valid_pct=0.2, **({} if name == 'ease' else dict(epochs=2)))
    save_model(tmp_path/'m', m, vocab, dict(model=name, **hp), seen=dls.train.dataset.x)
    m2, v2, cfg = load_model(tmp_path/'m')
    x = dls.valid.dataset.x
    with torch.no_grad(): assert torch.equal(m(x), m2(x))

def test_ranker_file_checked(data, tmp_path):
    trn, _ = data
    m, vocab, dls, hp = train_model(trn, 'dot-bias', epochs=1)
    r, _, _, rhp = train_model(trn, 'dae', epochs=1)
    save_model(tmp_path/'m', m, vocab, dict(model='dot-bias', **hp), seen=dls.train.dataset.x, ranker=(dict(model='dae', **rhp), r))
    _, v2, cfg = load_model(tmp_path/'m')
    with torch.no_grad(): assert torch.equal(load_ranker(tmp_path/'m', cfg, v2)(dls.valid.dataset.x), r(dls.valid.dataset.x))
    f = tmp_path/'m'/'ranker.safetensors'; f.write_bytes(f.read_bytes()[:-4])
    with pytest.raises(ValueError, match='checksum'): load_ranker(tmp_path/'m', cfg, v2)
    c = json.loads((tmp_path/'m'/'config.json').read_text()); c['ranker']['model'] = 'dot-bias'
    (tmp_path/'m'/'config.json').write_text(json.dumps(c))
    with pytest.raises(ValueError, match='ranker must name a ranking model'): load_model(tmp_path/'m')

@pytest.fixture(scope='module')
def cli_model(tmp_path_factory):
    out = tmp_path_factory.mktemp('rank')/'m'
    rc, so, se = run(['train', '--data', 'synthetic', '--epochs', '2', '--out', str(out), '--json'])
    assert rc == 0, se
    return out, json.loads(so)

def test_cli_train_saves_ranker(cli_model):
    out, res = cli_model
    assert res['ranker'] == 'ease-dae' and 0 < res['ranker_test_ndcg'] <= 1 and (out/'ranker.safetensors').exists()
    rc, so, se = run(['evaluate', '--model', str(out), '--json'])
    ev = json.loads(so)
    assert rc == 0 and ev['ranker'] == 'ease-dae' and ev['ranker_ndcg_at_10'] == pytest.approx(res['ranker_test_ndcg'], abs=1e-5)

def test_cli_all_users_lists(cli_model):
    out, _ = cli_model
    _, vocab, _ = load_model(out)
    rc, so, se = run(['recommend', '--model', str(out), '--all-users', '-n', '7', '--json'])
    lists = json.loads(so)
    assert rc == 0 and set(lists) == {str(u) for u in vocab.users}
    seen = {}
    for u, i in vocab.seen.tolist(): seen.setdefault(str(vocab.users[u-1]), set()).add(vocab.items[i-1].item())
    for u, rows in lists.items():
        assert len(rows) == 7 and {'item', 'title', 'score'} == set(rows[0])
        assert not {r['item'] for r in rows} & seen[u], u
        assert [r['score'] for r in rows] == sorted((r['score'] for r in rows), reverse=True)

def test_cli_ranking_model(tmp_path):
    rc, so, se = run(['train', '--data', 'synthetic', '--model', 'bpr', '--epochs', '2', '--out', str(tmp_path/'b'), '--json'])
    res = json.loads(so)
    assert rc == 0 and 'test_ndcg' in res and 'test_rmse' not in res and 'valid_ndcg' not in res and 'ranker' not in res
    rc, so, se = run(['evaluate', '--model', str(tmp_path/'b'), '--json'])
    assert rc == 0 and 'rmse' not in json.loads(so) and 'popular_ndcg_at_10' in json.loads(so)
    rc, so, se = run(['recommend', '--model', str(tmp_path/'b'), '--rate', '1=5,2=4', '-n', '3', '--json'])
    assert rc == 0 and len(json.loads(so)) == 3 and not {1, 2} & {r['item'] for r in json.loads(so)}

@pytest.mark.parametrize('args, msg', [
    (['train', '--model', 'nope'], "--model 'nope': unknown model"),
    (['train', '--model', 'ease', '--wd', '300'], "--wd is not a setting of 'ease' (its settings: lam)"),
    (['train', '--model', 'ease', '--hp', 'lam=-1'], "--hp lam -1.0: expected a finite number ≥ 0"),
    (['train', '--ranker', 'dot-bias'], 'choose a ranking model'),
    (['train', '--model', 'dae', '--nproc', '2'], 'trains in one process'),
    (['recommend', '--model', 'M', '--all-users', '-n', '0'], '--n 0'),
    (['recommend', '--model', 'M', '--all-users', '--user', '1'], 'exactly one of'),
    (['recommend', '--model', 'M', '--user', '1', '--by', 'stars'], '--by'),
])
def test_bad_input(args, msg, cli_model):
    rc, so, se = run([str(cli_model[0]) if a == 'M' else a for a in args])
    assert rc == 2 and not so and se.startswith('error: ') and '\n' not in se and msg in se, se
