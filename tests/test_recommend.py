"Recommendations, fold-in and safe model files, on a quickly trained model."
import json
import shutil

import pandas as pd
import pytest
import torch

from collab_nb.data import synth_ratings
from collab_nb.metrics import predict
from collab_nb.modelfile import load_model, save_model
from collab_nb.recommend import average_user, find_item, fold_in, item_titles, parse_rate, rare_items, recommend
from collab_nb.train import train_model


@pytest.fixture(scope='module')
def trained():
    df, _ = synth_ratings(seed=3)
    model, vocab, dls, hp = train_model(df, 'dot-bias', seed=0, epochs=5)
    return df, model, vocab, dls, hp

def test_seen_items_never_recommended(trained):
    df, model, vocab, dls, hp = trained
    x = dls.train.dataset.x
    for u in range(1, vocab.n_users, 37):
        seen = x[x[:,0]==u, 1]
        recs = recommend(model, vocab, u, 50, seen)
        assert not set(vocab.item_idx(recs.item).tolist()) & set(seen.tolist())
        assert len(recs) == 50 and recs.score.is_monotonic_decreasing

def test_fold_in_moves_toward_ratings(trained):
    df, model, vocab, dls, hp = trained
    items = torch.tensor([3, 10, 25])
    r = torch.tensor([5., 1., 4.5])
    x = torch.stack([torch.zeros_like(items), items], 1)
    with torch.no_grad(): before, after = average_user(model)(x), fold_in(model, items, r)(x)
    assert ((after - r).abs() < (before - r).abs()).all()
    # nothing but the #na# user row changes, and the original model is untouched
    fm = fold_in(model, items, r)
    assert torch.equal(fm.item_factors.weight, model.item_factors.weight)
    assert torch.equal(fm.user_factors.weight[1:], model.user_factors.weight[1:])

def test_rare_items():
    seen = torch.tensor([[1, 1], [2, 1], [1, 2]])
    assert rare_items(seen, 4, 2).tolist() == [0, 2, 3]

def test_find_item_and_parse_rate():
    df = pd.DataFrame({'movie': [1, 2, 3], 'title': ['Alien (1979)', 'Aliens (1986)', 'Shawshank Redemption, The (1994)']})
    from collab_nb.data import CollabVocab
    v, t = CollabVocab([1], df.movie), item_titles(df)
    assert find_item(v, '2', t) == 2 and find_item(v, 'alien (1979)', t) == 1 and find_item(v, 'shawshank', t) == 3
    with pytest.raises(KeyError, match='matches 2 titles'): find_item(v, 'alien', t)
    with pytest.raises(KeyError, match='unknown item'): find_item(v, 'Heat', t)
    assert parse_rate('Shawshank Redemption, The (1994)=5, 1=1') == [('Shawshank Redemption, The (1994)', 5.), ('1', 1.)]
    for bad in ['', '1', '1=x', '1=5,,2=3', '=4', '1=5;2=3']:
        with pytest.raises(ValueError, match='malformed'): parse_rate(bad)

def test_save_load_round_trip_exact(trained, tmp_path):
    df, model, vocab, dls, hp = trained
    save_model(tmp_path/'m', model, vocab, dict(model='dot-bias', **hp), item_titles(df), dls.train.dataset.x)
    m2, v2, cfg = load_model(tmp_path/'m')
    x = dls.valid.dataset.x
    with torch.no_grad(): assert torch.equal(model(x), m2(x))
    assert torch.equal(predict(model, vocab, dls.valid_df), predict(m2, v2, dls.valid_df))
    assert v2.items.tolist() == vocab.items.tolist() and v2.titles[1] == 'Item 1'
    assert torch.equal(v2.seen, dls.train.dataset.x)
    assert all(p.device.type == 'cpu' for p in m2.parameters())

def _copy(src, dst, edit):
    shutil.copytree(src, dst); edit(dst); return dst

def test_bad_model_files_refused(trained, tmp_path):
    df, model, vocab, dls, hp = trained
    src = save_model(tmp_path/'m', model, vocab, dict(model='dot-bias', **hp))
    w = 'model.safetensors'
    cases = {
        'pickle': (lambda d: torch.save(model.state_dict(), d/w), 'holds a pickle'),
        'pickle_v2': (lambda d: torch.save(model.state_dict(), d/w, _use_new_zipfile_serialization=False), 'holds a pickle'),
        'truncated': (lambda d: (d/w).write_bytes((d/w).read_bytes()[:500]), 'checksum'),
        'tampered': (lambda d: (d/w).write_bytes((d/w).read_bytes()[:-4] + b'\x00\x00\x80\x7f'), 'checksum'),
        'config': (lambda d: (d/'config.json').write_text('{'), 'not valid JSON'),
        'format': (lambda d: (d/'config.json').write_text(json.dumps({'format': 'x'})), 'format'),
        'no_weights': (lambda d: (d/w).unlink(), 'model file missing'),
    }
    for name, (edit, msg) in cases.items():
        d = _copy(src, tmp_path/name, edit)
        with pytest.raises((ValueError, FileNotFoundError), match=msg): load_model(d)
    # a pickle whose checksum was updated to match is still refused, before anything reads it as a pickle
    d = _copy(src, tmp_path/'pickle_sha', lambda d: torch.save(model.state_dict(), d/w))
    cfg = json.loads((d/'config.json').read_text())
    import hashlib
    cfg['weights_sha256'] = hashlib.sha256((d/w).read_bytes()).hexdigest()
    (d/'config.json').write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match='holds a pickle'): load_model(d)
    with pytest.raises(FileNotFoundError, match='model folder not found'): load_model(tmp_path/'nope')

@pytest.mark.parametrize('name', ['dot', 'nn', 'fastai'])
def test_other_models_round_trip_and_fold_in(name, tmp_path):
    df, _ = synth_ratings(n_users=80, n_items=60, density=0.3, seed=1)
    model, vocab, dls, hp = train_model(df, name, seed=0, epochs=2)
    save_model(tmp_path/name, model, vocab, dict(model=name, **hp), seen=dls.train.dataset.x)
    m2, v2, cfg = load_model(tmp_path/name)
    x = dls.valid.dataset.x
    with torch.no_grad(): assert torch.equal(model(x), m2(x))
    fm = fold_in(m2, torch.tensor([1, 2, 3]), [5., 1., 3.])
    recs = recommend(fm, v2, 0, 5, torch.tensor([1, 2, 3]))
    assert len(recs) == 5 and not {1, 2, 3} & set(vocab.item_idx(recs.item).tolist())

def _reference(model, vocab, n, seen, drop):
    "The per-user reference: every (user, item) pair through the model's forward, rated and dropped items masked, `topk`"
    from collab_nb.metrics import score_items
    s = score_items(model, torch.arange(1, vocab.n_users), vocab.n_items)
    s[seen[:, 0]-1, seen[:, 1]] = -float('inf'); s[:, drop] = -float('inf')
    return s.topk(n, dim=1)

def _same_lists(model, vocab, seen, drop, n=10, block=None):
    "Every user's batched list is the per-user one: the same items, or scores within float rounding where two items nearly tie"
    from collab_nb.recommend import recommend_all
    blocks = list(recommend_all(model, vocab, n, seen, drop, block=block))
    users, idx, val = (torch.cat(o) for o in zip(*blocks))
    ref = _reference(model, vocab, n, seen, drop)
    assert torch.equal(users, torch.arange(1, vocab.n_users))
    torch.testing.assert_close(val, ref.values, atol=1e-5, rtol=1e-5)
    differ = idx != ref.indices
    assert differ.float().mean() < 0.01 and ((ref.values - val)[differ].abs() < 1e-5).all()   # only near-ties may swap
    return len(blocks)

def test_all_users_batched_equals_per_user_ml100k():
    "ml-100k, a trained dot-bias model: the batched lists (one matrix product per block) are the per-user path's, for all 943 users"
    from collab_nb.data import load_movielens
    model, vocab, dls, hp = train_model(load_movielens('ml-100k'), 'dot-bias', seed=0, epochs=2, bs=8192)
    seen = dls.train.dataset.x
    assert _same_lists(model, vocab, seen, rare_items(seen, vocab.n_items, 20), block=200) == 5

@pytest.mark.parametrize('name', ['dae', 'nn', 'svdpp'])
def test_all_users_batched_fallbacks(trained, name):
    "Models without a dot-product table (Mult-DAE's `logits`, CollabNN's and SVD++'s forward on every pair of a block)"
    df = trained[0]
    model, vocab, dls, hp = train_model(df, name, seed=0, epochs=1)
    seen = dls.train.dataset.x
    assert _same_lists(model, vocab, seen, torch.tensor([1, 2]), n=5, block=37) == -(-(vocab.n_users-1) // 37)

def test_fold_in_new_item(trained):
    "The one fold-in routine also takes a new item: its row fitted to the ratings some users gave it, users untouched"
    df, model, vocab, dls, hp = trained
    users, stars = torch.tensor([3, 10, 25]), torch.tensor([5., 1., 4.5])
    x = torch.stack([users, torch.zeros_like(users)], 1)
    fm = fold_in(model, users, stars, side='item')
    with torch.no_grad(): before, after = model(x), fm(x)
    assert ((after - stars).abs() < (before - stars).abs()).all()
    assert torch.equal(fm.user_factors.weight, model.user_factors.weight) and torch.equal(fm.item_factors.weight[1:], model.item_factors.weight[1:])
