"Data layer: MovieLens sizes, bad input gets a clear error, splits, vocab and the fast loader."
import json

import numpy as np
import pandas as pd
import pytest
import torch

from collab_nb.data import *

GOOD = pd.DataFrame({'user':[1,1,2,3], 'movie':[10,11,10,12], 'rating':[4,3,5,2]})

@pytest.fixture(scope='module')
def ml100k(): return load_movielens('ml-100k')

def test_ml100k_sizes(ml100k):
    assert len(ml100k) == 100_000
    assert (ml100k.user.nunique(), ml100k.movie.nunique()) == (943, 1682)
    assert list(ml100k.columns) == ['user','movie','rating','timestamp','title']
    assert ml100k.title.notna().all()
    assert 'Toy Story (1995)' in set(ml100k.title)

def test_ml_latest_small_sizes():
    df = load_movielens('ml-latest-small')
    assert len(df) == 100_836 and df.user.nunique() == 610
    assert list(df.columns) == ['user','movie','rating','timestamp','title']
    assert set(np.unique(df.rating)) == {0.5*i for i in range(1, 11)}

# --- bad input: each gets a ValueError naming the column and counting bad rows ---
@pytest.mark.parametrize('df,msg', [
    (GOOD.drop(columns='rating'), "missing column ['rating']"),
    (GOOD.iloc[:0], 'ratings are empty: 0 rows'),
    (GOOD.assign(rating=[4, np.nan, np.nan, 1]), "column 'rating': 2 rows are missing (NaN)"),
    (GOOD.assign(rating=['4', 'five', 'x', '1']), "column 'rating': 2 rows are not numeric (e.g. 'five', 'x')"),
    (GOOD.assign(rating=[4, np.inf, 3, 1]), "column 'rating': 1 row are infinite"),
    (GOOD.assign(movie=[10, None, 10, 12]), "column 'movie': 1 row have a missing id"),
    (GOOD.assign(movie=[10, 10, 10, 10], user=[1, 1, 2, 2]), "2 duplicate (user, item) rows"),
])
def test_bad_ratings(df, msg):
    with pytest.raises(ValueError) as e: validate_ratings(df)
    assert msg in str(e.value)

def test_not_a_dataframe():
    with pytest.raises(ValueError, match='must be a DataFrame'): validate_ratings([1, 2, 3])

def test_duplicate_policies():
    d = pd.DataFrame({'user':[1,1,2], 'movie':[5,5,5], 'rating':[1.,3.,4.]})
    assert validate_ratings(d, duplicates='mean').rating.tolist() == [2., 4.]
    assert validate_ratings(d, duplicates='first').rating.tolist() == [1., 4.]
    with pytest.raises(ValueError, match="duplicates='drop'"): validate_ratings(d, duplicates='drop')

def test_custom_columns_csv(tmp_path):
    (tmp_path/'r.csv').write_text('who,what,score\na,x,1\nb,x,2\n')
    df = read_ratings(tmp_path/'r.csv', 'who', 'what', 'score')
    assert list(df.columns) == ['user','movie','rating'] and df.rating.tolist() == [1., 2.]
    with pytest.raises(ValueError, match="missing column"): read_ratings(tmp_path/'r.csv')

def test_empty_and_corrupt_files(tmp_path):
    (tmp_path/'empty.csv').write_text('')
    (tmp_path/'header.csv').write_text('user,movie,rating\n')
    (tmp_path/'bin.csv').write_bytes(b'\x00\xff\xfe\x89PNG\r\n\x1a\n' * 50)
    for f in ('empty.csv', 'header.csv', 'bin.csv'):
        with pytest.raises(ValueError) as e: read_ratings(tmp_path/f)
        assert f in str(e.value) or 'missing column' in str(e.value) or 'empty' in str(e.value)
    with pytest.raises(FileNotFoundError, match='not found'): read_ratings(tmp_path/'nope.csv')

def test_missing_folder_mentions_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv('COLLAB_NB_DATA', str(tmp_path))
    with pytest.raises(FileNotFoundError) as e: load_movielens('ml-100k')
    assert 'COLLAB_NB_DATA' in str(e.value) and str(tmp_path) in str(e.value)
    monkeypatch.delenv('COLLAB_NB_DATA')
    with pytest.raises(FileNotFoundError, match='COLLAB_NB_DATA'): movielens_path('ml-100k', download=False)

def test_offline_download_error_mentions_env_var(monkeypatch):
    import fastai.data.external as ext
    def _offline(*a, **k): raise OSError('Temporary failure in name resolution')
    monkeypatch.delenv('COLLAB_NB_DATA', raising=False)
    monkeypatch.setattr(ext, 'untar_data', _offline)
    with pytest.raises(FileNotFoundError, match='COLLAB_NB_DATA'): movielens_path('ml-100k')

def test_corrupt_movielens_file(tmp_path):
    d = tmp_path/'ml-100k'; d.mkdir()
    (d/'u.data').write_text('1\t2\tfive\t3\n')
    (d/'u.item').write_text('2|Film (1999)|x\n')
    with pytest.raises(ValueError, match="not numeric"): load_movielens('ml-100k', data_dir=tmp_path)
    (d/'u.data').write_text('1\t3\t4\t3\n')
    with pytest.raises(ValueError, match='missing from the title file'): load_movielens('ml-100k', data_dir=tmp_path)

def test_unknown_names():
    with pytest.raises(ValueError, match='unknown MovieLens set'): movielens_path('ml-1b')
    with pytest.raises(ValueError, match='unknown fold'): movielens_fold('u9')

# --- vocab and splits ---
def test_vocab_roundtrip_and_unknown():
    v = CollabVocab(['b','a','b'], [3, 1])
    assert v.user_idx(['a','b','zz']).tolist() == [1, 2, 0]
    assert v.user_ids([2, 0]) == ['b', '#na#']
    with pytest.raises(KeyError, match='unknown user id: zz'): v.user_idx(['zz'], strict=True)
    v2 = CollabVocab.from_dict(json.loads(json.dumps(v.to_dict())))
    assert v2.classes == v.classes

def test_random_split_matches_fastai_and_does_not_reseed(ml100k):
    from fastai.data.transforms import RandomSplitter
    torch.manual_seed(0); expected = torch.rand(1)
    torch.manual_seed(0); trn, val = random_split(ml100k, 0.2, seed=7)
    assert torch.rand(1) == expected, "random_split must not touch torch's global RNG"
    _, fval = RandomSplitter(0.2, seed=7)(range(len(ml100k)))
    assert list(val.index) == list(fval)
    assert len(set(trn.index) & set(val.index)) == 0 and len(trn)+len(val) == len(ml100k)

def test_folds_disjoint():
    tests = [movielens_fold(f'u{i}')[1] for i in range(1, 6)]
    keys = pd.concat([t[['user','movie']] for t in tests])
    assert len(keys) == 100_000 and not keys.duplicated().any()

def test_holdout_random_seeded(ml100k):
    a = holdout_split(ml100k, n=3, seed=1)[1]; b = holdout_split(ml100k, n=3, seed=1)[1]
    assert a.index.equals(b.index) and a.groupby('user').size().eq(3).all()

def test_synth_seeded_and_planted():
    (d1, p1), (d2, p2), (d3, _) = synth_ratings(seed=3), synth_ratings(seed=3), synth_ratings(seed=4)
    pd.testing.assert_frame_equal(d1, d2)
    assert not d1.equals(d3)
    assert torch.equal(p1.user_factors, p2.user_factors)
    assert not d1.duplicated(['user','movie']).any()

# --- the fast loader ---
def test_loader_unknown_valid_ids_do_not_crash():
    trn = pd.DataFrame({'user':[1,1,2,2], 'movie':[1,2,1,2], 'rating':[1.,2.,3.,4.]})
    val = pd.DataFrame({'user':[1, 99], 'movie':[77, 2], 'rating':[3., 3.]})
    dls = RatingsDataLoaders.from_df(trn, valid_df=val, bs=2)
    assert dls.n_valid_unknown == 2
    xb, yb = next(iter(dls.valid))
    assert xb.tolist() == [[1, 0], [0, 2]]

def test_loader_covers_epoch_once(ml100k):
    dls = RatingsDataLoaders.from_df(ml100k, seed=42, bs=1000)
    xs = torch.cat([xb for xb, _ in dls.train])
    assert len(xs) == 80_000 == len(torch.unique(xs[:,0]*10_000 + xs[:,1]))
    vx = torch.cat([xb for xb, _ in dls.valid])
    assert len(vx) == 20_000

def test_loader_trains_with_learner(ml100k):
    from fastai.collab import collab_learner
    dls = RatingsDataLoaders.from_df(ml100k, seed=42, bs=512)
    learn = collab_learner(dls, n_factors=8, y_range=(0, 5.5))
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 3e-2, wd=0.1)
    preds, targs = learn.get_preds()
    base = ((targs - targs.mean())**2).mean()  # predicting the mean: MSE about 1.27
    assert preds.numel() == 20_000 and ((preds.view(-1) - targs.view(-1))**2).mean() < 0.9 < base

def test_download_progress_not_on_stdout(monkeypatch, capsys):
    "A failed download's progress output must not pollute stdout (the CLI's --json)"
    import fastai.data.external as ext
    def _noisy(*a, **k): print('█ 10%'); raise OSError('offline')
    monkeypatch.delenv('COLLAB_NB_DATA', raising=False)
    monkeypatch.setattr(ext, 'untar_data', _noisy)
    with pytest.raises(FileNotFoundError): movielens_path('ml-100k')
    out, err = capsys.readouterr()
    assert out == '' and '█' in err

# --- three parts: train / valid / test for every protocol ---
@pytest.fixture(scope='module')
def tiny(): return synth_ratings(n_users=40, n_items=30, density=0.5, seed=5)[0]

def _pairs(df): return set(zip(df.user, df.movie))

@pytest.mark.parametrize('protocol,kw,carve', [('random', {}, 'rows'), ('holdout', dict(n=3), 'per-user'),
                                               ('holdout', dict(n=3, by='time'), 'per-user'), ('time', {}, 'time')])
def test_three_parts_cover_and_are_disjoint(tiny, protocol, kw, carve):
    p = three_way_split(tiny, protocol, seed=3, **kw)
    trn, val, tst = p
    assert p.protocol['carve'] == carve and len(val) and len(tst)
    assert sorted(trn.index.append(val.index).append(tst.index)) == list(range(len(tiny)))
    assert sorted(p.train_valid.index) == sorted(trn.index.append(val.index))
    assert not (_pairs(val) & _pairs(tst)) and not (_pairs(trn) & _pairs(val))

def test_three_parts_test_is_the_two_part_split(tiny):
    "The test part is the one the two-part function holds out, so test scores stay comparable"
    assert list(three_way_split(tiny, 'random', seed=3).test.index) == list(random_split(tiny, 0.2, seed=3)[1].index)
    assert list(three_way_split(tiny, 'holdout', seed=3, n=3).test.index) == list(holdout_split(tiny, 3, seed=3)[1].index)
    assert list(three_way_split(tiny, 'time').test.index) == list(time_split(tiny)[1].index)

def test_valid_seed_moves_valid_only(tiny):
    a, b, c = three_way_split(tiny, seed=3), three_way_split(tiny, seed=3), three_way_split(tiny, seed=3, valid_seed=9)
    assert list(a.valid.index) == list(b.valid.index) and list(a.test.index) == list(c.test.index)
    assert list(a.valid.index) != list(c.valid.index)
    assert a.protocol['valid_seed'] == 4 and c.protocol['valid_seed'] == 9

def test_time_parts_in_time_order(tiny):
    p = three_way_split(tiny, 'time', test_pct=0.25, valid_pct=0.25)
    assert p.train.timestamp.max() <= p.valid.timestamp.min() and p.valid.timestamp.max() <= p.test.timestamp.min()
    assert (len(p.test), len(p.valid)) == (int(0.25*len(tiny)), int(0.25*(len(tiny)-int(0.25*len(tiny)))))

def test_time_split_breaks_ties_by_position():
    df = pd.DataFrame({'user':[1,2,3,4], 'movie':[1,1,1,1], 'rating':[1.,2.,3.,4.], 'timestamp':[5,5,5,1]})
    trn, tst = time_split(df, 0.5)
    assert tst.index.tolist() == [1, 2] and trn.index.tolist() == [0, 3]

def test_fold_parts_carve_from_base_only():
    u1, ua = three_way_split(protocol='fold', fold='u1'), three_way_split(protocol='fold', fold='ua')
    base, test = movielens_fold('u1')
    assert (len(u1.train), len(u1.valid), len(u1.test)) == (64_000, 16_000, 20_000) and u1.protocol['carve'] == 'rows'
    assert _pairs(u1.train) | _pairs(u1.valid) == _pairs(base) and _pairs(u1.test) == _pairs(test)
    assert ua.protocol['carve'] == 'per-user' and ua.valid.groupby('user').size().max() == 10
    assert not (_pairs(ua.valid) & _pairs(ua.test))

@pytest.mark.parametrize('args,kw,msg', [
    ((), dict(protocol='kfold'), "unknown protocol 'kfold'; choose one of random, fold, holdout, time"),
    ((), dict(protocol='fold'), "pass df=None"),
    ((None,), dict(protocol='time'), "protocol 'time' needs the ratings"),
    ((), dict(test_pct=1.), "test_pct=1.0: must be in (0, 1)"),
    ((), dict(carve='users'), "how='users': carve valid by one of 'rows', 'per-user', 'time'"),
    ((), dict(protocol='holdout', n=18), "protocol 'holdout' left the test part empty: no user has n+min_keep=23 ratings"),
    ((), dict(protocol='holdout', n=9), "carving valid by 'per-user' left it empty: no user has n+min_keep=14 training ratings"),
    ((), dict(valid_pct=0.), "carving valid by 'rows' left it empty: valid_pct=0.0 of 480 rows"),
])
def test_three_parts_bad_input(tiny, args, kw, msg):
    with pytest.raises(ValueError) as e: three_way_split(*(args or (tiny,)), **kw)
    assert msg in str(e.value)

def test_carve_without_timestamps():
    with pytest.raises(ValueError, match="no 'timestamp' column"): carve_valid(GOOD, 'time')

def test_fingerprint_ignores_test_ratings_only(tiny):
    p = three_way_split(tiny, seed=3)
    hidden = tiny.copy(); hidden.loc[p.test.index, 'rating'] = 1.
    assert three_way_split(hidden, seed=3).fingerprint() == p.fingerprint()
    for rows in (p.valid.index[:1], p.train.index[:1]):
        d = tiny.copy(); d.loc[rows, 'rating'] += 0.5
        assert three_way_split(d, seed=3).fingerprint() != p.fingerprint()
    moved = tiny.copy(); moved.loc[p.test.index[:1], 'movie'] = 999
    assert three_way_split(moved, seed=3).fingerprint() != p.fingerprint()
    assert three_way_split(tiny, seed=3, valid_pct=0.3).fingerprint() != p.fingerprint()

def test_ids_only_in_valid_or_test_do_not_crash():
    "A user or film that only valid or test mentions is index 0: loaders, predictions and ranking metrics still run"
    from collab_nb.metrics import MostPopular, predict, ranking_metrics
    trn = pd.DataFrame({'user':[1,1,2,2,3], 'movie':[1,2,1,3,2], 'rating':[5.,4.,3.,5.,4.], 'timestamp':range(5)})
    val = pd.DataFrame({'user':[1, 7], 'movie':[3, 1], 'rating':[4., 5.]})
    tst = pd.DataFrame({'user':[2, 3, 8], 'movie':[2, 9, 9], 'rating':[5., 4., 5.]})
    dls = RatingsDataLoaders.from_df(trn, valid_df=val, bs=2)
    assert dls.n_valid_unknown == 1
    pop = MostPopular.from_df(trn, dls.vocab)
    assert predict(pop, dls.vocab, tst).tolist() == [2., 0., 0.]
    r = ranking_metrics(pop, dls.vocab, tst, trn, k=2)
    assert r['n_rank_users'] == 3 and 0 <= r['ndcg_at_2'] <= 1
