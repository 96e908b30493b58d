"collab_nb.lean: MovieLens-25M-style files loaded as compact arrays, every bad row reported."
import numpy as np
import pandas as pd
import pytest

from collab_nb.data import get_ratings
from collab_nb.lean import ML_COLUMNS, count_rows, lean_from_df, lean_split, raw_nbytes, read_ratings_lean, write_synth_ratings


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    fn = write_synth_ratings(tmp_path_factory.mktemp('lean')/'ratings.csv', n_ratings=30_000, n_users=500, n_items=400, seed=3)
    return fn, pd.read_csv(fn)

def test_synth_file_shape(small):
    fn, df = small
    assert list(df.columns) == list(ML_COLUMNS)
    assert len(df) == 30_000 == count_rows(fn)
    assert df.userId.nunique() == 500 and df.userId.min() == 1
    assert not df.duplicated(['userId', 'movieId']).any()
    assert df.rating.between(0.5, 5).all() and ((df.rating*2) % 1 == 0).all()
    assert df.movieId.max() > 400  # ids have gaps, as in MovieLens
    assert (df.sort_values(['userId', 'movieId']).index == df.index).all()

def test_synth_seeded(small, tmp_path):
    fn, _ = small
    again = write_synth_ratings(tmp_path/'r.csv', n_ratings=30_000, n_users=500, n_items=400, seed=3)
    assert again.read_bytes() == fn.read_bytes()
    other = write_synth_ratings(tmp_path/'o.csv', n_ratings=30_000, n_users=500, n_items=400, seed=4)
    assert other.read_bytes() != fn.read_bytes()
    with pytest.raises(ValueError, match='more than'): write_synth_ratings(tmp_path/'x.csv', n_ratings=101, n_users=10, n_items=10)

def test_lean_loader_dtypes_counts(small):
    fn, df = small
    lean = read_ratings_lean(fn, chunksize=7_000)
    assert len(lean) == len(df)
    assert (lean.user.dtype, lean.item.dtype, lean.rating.dtype) == (np.int32, np.int32, np.float32)
    assert lean.n_users == df.userId.nunique()+1 and lean.n_items == df.movieId.nunique()+1
    assert lean.user.min() == 1 and lean.item.min() == 1  # 0 stays free for '#na#'
    np.testing.assert_array_equal(lean.user_ids[lean.user-1], df.userId)
    np.testing.assert_array_equal(lean.item_ids[lean.item-1], df.movieId)
    np.testing.assert_array_equal(lean.rating, df.rating.to_numpy(np.float32))
    # codes agree with CollabVocab's, so the vocab saved with a model is the usual one
    np.testing.assert_array_equal(lean.vocab.item_idx(df.movieId).numpy(), lean.item)
    assert lean.nbytes < raw_nbytes(len(df))/2

def test_lean_loader_bad_rows(small, tmp_path):
    _, df = small
    bad = df.head(500).astype({'rating': object, 'movieId': object})
    bad.loc[[10, 20, 30, 40], 'rating'] = 'x'
    bad.loc[5, 'movieId'] = '12a'
    bad.loc[450, 'movieId'] = 3.5
    bad.to_csv(tmp_path/'bad.csv', index=False)
    with pytest.raises(ValueError) as e: read_ratings_lean(tmp_path/'bad.csv', chunksize=100)
    msg = str(e.value)
    assert "column 'rating': 4 rows are not numeric (lines 12, 22, 32)" in msg
    assert "column 'movieId': 1 row are not numeric (line 7)" in msg
    assert "column 'movieId': 1 row are not integers (line 452)" in msg
    assert 'nothing was loaded' in msg
    nan = df.head(50).copy(); nan.loc[3, 'rating'] = np.nan; nan.loc[4, 'userId'] = np.nan
    nan.to_csv(tmp_path/'nan.csv', index=False)
    msg = str(pytest.raises(ValueError, read_ratings_lean, tmp_path/'nan.csv').value)
    assert "column 'rating': 1 row are missing (NaN) (line 5)" in msg and "column 'userId': 1 row have a missing id (line 6)" in msg
    neg = df.head(50).copy(); neg.loc[0, 'userId'] = -3
    neg.to_csv(tmp_path/'neg.csv', index=False)
    assert 'outside' in str(pytest.raises(ValueError, read_ratings_lean, tmp_path/'neg.csv').value)

def test_lean_loader_file_problems(small, tmp_path):
    _, df = small
    pd.concat([df.head(20), df.head(3)]).to_csv(tmp_path/'dups.csv', index=False)
    with pytest.raises(ValueError, match='3 duplicate'): read_ratings_lean(tmp_path/'dups.csv')
    assert len(read_ratings_lean(tmp_path/'dups.csv', check_duplicates=False)) == 23
    df.head(5).rename(columns={'movieId': 'item'}).to_csv(tmp_path/'cols.csv', index=False)
    with pytest.raises(ValueError, match=r"missing column \['movieId'\]"): read_ratings_lean(tmp_path/'cols.csv')
    (tmp_path/'empty.csv').write_text('')
    with pytest.raises(ValueError, match='empty'): read_ratings_lean(tmp_path/'empty.csv')
    (tmp_path/'header.csv').write_text('userId,movieId,rating,timestamp\n')
    with pytest.raises(ValueError, match='no rows'): read_ratings_lean(tmp_path/'header.csv')
    with pytest.raises(FileNotFoundError): read_ratings_lean(tmp_path/'nope.csv')
    # other column names and separators
    df.head(10).rename(columns={'userId': 'u', 'movieId': 'i', 'rating': 'r'}).to_csv(tmp_path/'tab.tsv', sep='\t', index=False)
    assert len(read_ratings_lean(tmp_path/'tab.tsv', 'u', 'i', 'r', sep='\t')) == 10

def test_lean_split_is_random_split(tmp_path):
    "Data-parallel runs hold out exactly the rows `random_split` (and fastai's RandomSplitter) holds out"
    from collab_nb.data import random_split
    df = get_ratings('ml-100k')
    lean = lean_from_df(df)
    trn, val = lean_split(lean, 0.2, seed=7)
    _, rval = random_split(df, 0.2, seed=7)
    got = sorted(zip(lean.user_ids[val[0].numpy()-1].tolist(), lean.item_ids[val[1].numpy()-1].tolist()))
    assert got == sorted(zip(rval.user.tolist(), rval.movie.tolist()))
