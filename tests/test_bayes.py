"Bayesian SVD++ (`bayes`): the priors see only the training pairs unless asked, the sampler's steps are exact, saved models round-trip exactly, fold-in moves a new user towards their ratings."
import pytest
import torch

import collab_nb.bayes as B
from collab_nb.bayes import BayesMF, gaussian_posterior, implicit_matrix
from collab_nb.cli import run
from collab_nb.data import random_split, synth_ratings
from collab_nb.modelfile import load_model, save_model
from collab_nb.recommend import fold_in
from collab_nb.train import train_model


@pytest.fixture(scope='module')
def data():
    df = synth_ratings(n_users=120, n_items=80, n_factors=4, seed=5)[0]
    return random_split(df, 0.2, seed=1)

@pytest.fixture(scope='module')
def fitted(data):
    trn, val = data
    return train_model(trn, 'bayes', val, seed=0, epochs=40, burn=10)

def _keys(x, n): return set((x[:,0]*n + x[:,1]).tolist())

def _history_seen(monkeypatch, trn, val, **kw):
    "The pairs `gibbs` was given as the priors' history when training on `trn`"
    seen = {}
    orig = B.gibbs
    def spy(x, y, *a, **k):
        seen['x'], seen['h'] = x, k['history']
        return orig(x, y, *a, **k)
    monkeypatch.setattr(B, 'gibbs', spy)
    m, vocab, dls, hp = train_model(trn, 'bayes', val, seed=0, epochs=3, burn=1, **kw)
    return seen, vocab, dls

def test_priors_see_training_pairs_only(data, monkeypatch):
    trn, val = data
    seen, vocab, dls = _history_seen(monkeypatch, trn, val)
    assert torch.equal(seen['h'], dls.train.dataset.x) and torch.equal(seen['x'], dls.train.dataset.x)
    assert not _keys(seen['h'], vocab.n_items) & _keys(dls.valid.dataset.x, vocab.n_items)

def test_transductive_history_is_opt_in(data, monkeypatch):
    trn, val = data
    seen, vocab, dls = _history_seen(monkeypatch, trn, val, extra_history=val)
    assert _keys(dls.valid.dataset.x, vocab.n_items) <= _keys(seen['h'], vocab.n_items)
    assert torch.equal(seen['x'], dls.train.dataset.x)   # the ratings themselves are still the training ones

def test_validation_ratings_change_nothing(data):
    "Same training rows, other validation rows: the same draws (the sampler never reads the validation set)"
    trn, val = data
    a = train_model(trn, 'bayes', val, seed=0, epochs=5, burn=2)[0]
    b = train_model(trn, 'bayes', val.assign(rating=1.0), seed=0, epochs=5, burn=2)[0]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))

def test_posterior_is_ridge_and_draws_have_its_covariance():
    torch.manual_seed(0)
    X, t, lam, alpha = torch.randn(50, 3), torch.randn(50), torch.tensor([1., 2., 3.]), 4.
    L, mean = gaussian_posterior(lam, torch.zeros(1, 3), (X.T@X)[None], (X.T@t)[None], alpha)
    ridge = torch.linalg.solve(X.T@X + torch.diag(lam)/alpha, X.T@t)
    assert torch.allclose(mean[0], ridge, atol=1e-5)
    draws = B.sample_posterior(L.expand(20_000, 3, 3), mean.expand(20_000, 3))
    assert torch.allclose(torch.cov(draws.T), torch.linalg.inv(torch.diag(lam) + alpha*X.T@X), atol=2e-3)

def test_implicit_matrix_counts_distinct_pairs():
    N = implicit_matrix(torch.tensor([0, 0, 0, 1]), torch.tensor([1, 1, 2, 0]), 2, 3).to_dense()
    assert torch.allclose(N, torch.tensor([[0, 2**-0.5, 2**-0.5], [1, 0, 0]]))

def test_beats_its_start_and_predicts_in_range(fitted):
    m, vocab, dls, hp = fitted
    x, y = dls.valid.dataset.x, dls.valid.dataset.y[:,0]
    with torch.no_grad(): p = m(x)
    lo, hi = dls.rating_range
    assert isinstance(m, BayesMF) and p.min() >= lo and p.max() <= hi
    assert ((p - y)**2).mean() < 0.8*((y - y.mean())**2).mean()   # 1,152 sparse ratings: well above the mean's error, far from the noise
    dot = train_model(dls.train_df, 'dot-bias', dls.valid_df, seed=0)[0]
    with torch.no_grad(): assert ((p - y)**2).mean() < ((dot(x) - y)**2).mean()

def test_save_load_round_trip_exact(fitted, tmp_path):
    m, vocab, dls, hp = fitted
    d = save_model(tmp_path/'m', m, vocab, dict(model='bayes', **hp))
    m2, vocab2, cfg = load_model(d)
    x = dls.valid.dataset.x
    with torch.no_grad(): assert torch.equal(m(x), m2(x))
    assert all(torch.equal(p, q) for p, q in zip(m.parameters(), m2.parameters())) and cfg['model'] == 'bayes'

def test_fold_in_moves_predictions_towards_ratings(fitted):
    m, vocab, dls, hp = fitted
    items, stars = torch.tensor([1, 2, 3, 4]), torch.tensor([5., 5., 1., 1.])
    x = torch.stack([torch.zeros_like(items), items], 1)
    with torch.no_grad(): before = m(x)
    new = fold_in(m, items, stars)
    with torch.no_grad(): after = new(x)
    assert ((after - stars).abs() < (before - stars).abs()).all(), (before, after)
    with torch.no_grad(): assert torch.equal(m(x), before)                       # the trained model is untouched
    assert torch.equal(new.users[:, 1:], m.users[:, 1:])                         # and so is every real user

def test_too_many_items_is_one_clean_error(tmp_path):
    import pandas as pd
    pd.DataFrame(dict(user=[1, 2]*4000, movie=range(1, 8001), rating=3.)).to_csv(tmp_path/'r.csv', index=False)  # 8,000 items, 6,400 in the training part
    rc, out, err = run(['train', '--data', str(tmp_path/'r.csv'), '--model', 'bayes'])
    assert rc == 2 and err.count('\n') <= 1 and err.startswith('error:') and 'svdpp' in err, err

def test_tables_are_the_average_and_interpret_reads_them(fitted):
    "The four tables `model_tables` finds reproduce the average of the draws exactly, so `interpret` works on the model"
    from collab_nb.interpret import get_biases, get_factors
    from collab_nb.models import model_tables
    m, vocab, dls, hp = fitted
    x = dls.valid.dataset.x
    t = model_tables(m)
    dot = m.mu.mean() + t.user_bias[x[:,0], 0] + t.item_bias[x[:,1], 0] + (t.user_factors[x[:,0]]*t.item_factors[x[:,1]]).sum(1)
    with torch.no_grad(): assert torch.allclose(dot.clamp(*m.rating_range.tolist()), m(x), atol=1e-5)
    assert get_factors(m).shape == (vocab.n_items, 125*hp['n_factors']) and get_biases(m, users=True).shape == (vocab.n_users,)
