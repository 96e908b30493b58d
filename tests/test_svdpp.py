"SVD++: the history holds only training pairs, saved models round-trip exactly, fold-in moves a new user towards their ratings."
import json

import pytest
import torch

from collab_nb.cli import run
from collab_nb.data import random_split, synth_ratings
from collab_nb.modelfile import load_model, save_model
from collab_nb.ranking import with_history
from collab_nb.recommend import average_user, fold_in
from collab_nb.svdpp import SVDpp
from collab_nb.train import train_model


@pytest.fixture(scope='module')
def fitted():
    df = synth_ratings(n_users=120, n_items=80, n_factors=4, seed=5)[0]
    trn, val = random_split(df, 0.2, seed=1)
    m, vocab, dls, hp = train_model(trn, 'svdpp', val, seed=0, lr=2e-2)
    return m, vocab, dls, hp, trn, val

def _keys(x, n): return set((x[:,0]*n + x[:,1]).tolist())

def test_history_is_the_training_pairs_only(fitted):
    m, vocab, dls, hp, trn, val = fitted
    assert isinstance(m, SVDpp) and torch.equal(m.hist_x, dls.train.dataset.x)
    assert not _keys(m.hist_x, vocab.n_items) & _keys(dls.valid.dataset.x, vocab.n_items)

def test_transductive_history_is_opt_in(fitted):
    m, vocab, dls, hp, trn, val = fitted
    t = train_model(trn, 'svdpp', val, seed=0, epochs=1, extra_history=val)[0]
    assert _keys(dls.valid.dataset.x, vocab.n_items) <= _keys(t.hist_x, vocab.n_items)

def test_learns_and_uses_the_history(fitted):
    m, vocab, dls, hp, trn, val = fitted
    x = dls.valid.dataset.x
    with torch.no_grad():
        assert m.implicit.weight.abs().max() > 0.02          # the y vectors moved from their 0.01-scale start
        full = m(x)
        m.set_history(m.hist_x[:0])                          # forget every history: predictions change
        empty = m(x)
        m.set_history(dls.train.dataset.x)
    assert (full - empty).abs().max() > 1e-3

def test_save_load_round_trip_exact(fitted, tmp_path):
    m, vocab, dls, hp, trn, val = fitted
    d = save_model(tmp_path/'m', m, vocab, dict(model='svdpp', **hp), None, dls.train.dataset.x)
    m2, vocab2, cfg = load_model(d)
    x = dls.valid.dataset.x
    with torch.no_grad(): assert torch.equal(m(x), m2(x))
    assert torch.equal(m2.hist_x, m.hist_x) and cfg['model'] == 'svdpp'

def test_fold_in_moves_predictions_towards_ratings(fitted):
    m, vocab, dls, hp, trn, val = fitted
    items, stars = torch.tensor([1, 2, 3, 4]), torch.tensor([5., 5., 1., 1.])
    new = fold_in(m, items, stars)                 # no `with_history` by hand: `fold_in` gives an SVD++ model the history
    x = torch.stack([torch.zeros_like(items), items], 1)
    with torch.no_grad(): before, after = average_user(m)(x), new(x)
    assert ((after - stars).abs() < (before - stars).abs()).all(), (before, after)
    assert torch.equal(new.hist_x[new.hist_x[:,0] == 0, 1].sort().values, items)   # the new user's history is what they rated
    assert not (m.hist_x[:,0] == 0).any()                                          # the trained model is untouched
    with torch.no_grad(): assert torch.allclose(fold_in(with_history(m, items), items, stars)(x), after)  # doing it by hand too changes nothing

@pytest.mark.parametrize('model', ['svdpp', 'svdpp-blend', 'bayes'])
def test_cli_train_recommend_rate(tmp_path, model):
    "The accuracy models from the command line: train, save, and recommend for a new user (`--rate`, fold-in)"
    df = synth_ratings(n_users=60, n_items=40, n_factors=3, seed=6)[0]
    df.to_csv(tmp_path/'r.csv', index=False)
    rc, out, err = run(['train', '--data', str(tmp_path/'r.csv'), '--model', model, '--epochs', '5', '--out', str(tmp_path/'m'), '--json'])
    assert rc == 0, err
    assert json.loads(out)['model'] == model
    rc, out, err = run(['recommend', '--model', str(tmp_path/'m'), '--rate', '1=5,2=1', '-n', '3', '--json'])
    assert rc == 0, err
    recs = json.loads(out)
    assert len(recs) == 3 and not {r['item'] for r in recs} & {1, 2}

def test_blend_fits_both_parts_and_round_trips(fitted, tmp_path):
    "svdpp-blend: both parts trained, unseen users/movies fall back to SVD++, `shift` and `w` saved with the weights"
    from collab_nb.svdpp import SVDppBlend
    _, vocab, dls, hp, trn, val = fitted
    b, vocab, dls, hp = train_model(trn, 'svdpp-blend', val, seed=0, lr=2e-2, ar_epochs=3)
    assert isinstance(b, SVDppBlend) and torch.equal(b.hist_x, dls.train.dataset.x)
    assert b.autorec.codes.abs().sum() > 0 and b.svdpp.implicit.weight.abs().max() > 0.02
    x = dls.valid.dataset.x
    with torch.no_grad():
        unk = torch.tensor([[0, 1], [1, 0]])
        assert torch.allclose(b(unk), b.svdpp(unk) + b.shift)
        d = save_model(tmp_path/'b', b, vocab, dict(model='svdpp-blend', **hp), None, dls.train.dataset.x)
        b2 = load_model(d)[0]
        assert torch.equal(b(x), b2(x)) and float(b2.shift) == float(b.shift) != 0
    items, stars = torch.tensor([1, 2, 3, 4]), torch.tensor([5., 5., 1., 1.])
    new = fold_in(b, items, stars)                 # the one fold-in fits the new user's row of the SVD++ part, through the blend
    x0 = torch.stack([torch.zeros_like(items), items], 1)
    with torch.no_grad():
        before, after = average_user(b)(x0), new(x0)
        assert ((after - stars).abs() < (before - stars).abs()).all(), (before, after)
        assert torch.equal(b(x), b2(x)) and not (b.hist_x[:,0] == 0).any()   # the trained blend is untouched
