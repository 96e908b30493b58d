"Scale lesson (collab_nb.distributed): lean loading of MovieLens-25M-style files, and 2-process DDP training on CPU."
import json
import numpy as np, pandas as pd, pytest, torch
from collab_nb.distributed import (write_synth_ratings, read_ratings_lean, count_rows, raw_nbytes, lean_from_df, lean_split,
                                   fit_lean, valid_mse, train_distributed, load_trained, peak_memory, ML_COLUMNS)
from collab_nb.data import get_ratings

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
    assert "column 'rating': 4 rows are not numbers (lines 12, 22, 32)" in msg
    assert "column 'movieId': 1 row are not numbers (line 7)" in msg
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

def test_peak_memory_lean_below_pandas(small):
    fn, _ = small
    lean = peak_memory('collab_nb.distributed:read_ratings_lean', str(fn))
    assert lean['extra_mb'] > 0 and 'LeanRatings(30,000 ratings' in lean['result']
    with pytest.raises(RuntimeError, match='failed'): peak_memory('collab_nb.distributed:read_ratings_lean', '/no/such.csv')

def test_split_and_fit_checks():
    ml = lean_from_df(get_ratings('synthetic'))
    trn, val = lean_split(ml, 0.2, seed=1)
    assert len(trn[0]) + len(val[0]) == len(ml) and len(val[0]) == int(0.2*len(ml))
    m = torch.nn.Module()
    with pytest.raises(ValueError, match='larger than'): fit_lean(m, trn, bs=10**7)
    with pytest.raises(ValueError, match='unknown option'): train_distributed('ml-100k', nproc=1, nope=1)
    with pytest.raises(ValueError, match='nproc'): train_distributed('ml-100k', nproc=0)

def test_two_gloo_processes_match_one(tmp_path):
    torch.set_num_threads(1)
    kw = dict(epochs=4, lr=1e-2, wd=0.5, bs=1024, seed=42)
    one = train_distributed('ml-100k', nproc=1, **kw)
    two = train_distributed('ml-100k', nproc=2, out=tmp_path/'m', **kw)
    assert two['nproc'] == 2 and one['nproc'] == 1
    assert two['n_train'] == one['n_train'] == 80_000
    assert one['valid_mse'] < 0.9
    assert abs(two['valid_mse'] - one['valid_mse']) < 0.01
    # only rank 0 wrote; what it wrote loads and scores the same validation rows the same
    assert json.loads((tmp_path/'m'/'result.json').read_text())['nproc'] == 2
    model, vocab = load_trained(tmp_path/'m')
    assert vocab.n_users == 944 and vocab.n_items == 1683
    _, val = lean_split(lean_from_df(get_ratings('ml-100k')), 0.2, seed=42)
    assert abs(valid_mse(model, val) - two['valid_mse']) < 1e-4
    # it is the course's model format: `collab-nb evaluate/recommend` read it, with titles and seen ratings
    from collab_nb.modelfile import load_model
    _, v, cfg = load_model(tmp_path/'m')
    assert cfg['trained_by'] == 'collab_nb.distributed' and cfg['nproc'] == 2
    assert v.titles[1] == 'Toy Story (1995)' and len(v.seen) == 80_000

def test_hand_written_grads_match_autograd():
    from collab_nb.distributed import dot_bias_grads
    from collab_nb.models import DotProductBias
    for yr in ((0, 5.5), None):
        torch.manual_seed(1)
        m = DotProductBias(40, 25, 6, y_range=yr)
        u, i, y = torch.randint(0, 40, (300,)), torch.randint(0, 25, (300,)), torch.rand(300)*5
        loss = ((m(torch.stack([u, i], 1)) - y)**2).mean(); loss.backward()
        auto = [p.grad.clone() for p in m.parameters()]
        assert torch.allclose(dot_bias_grads(m, u, i, y), loss, atol=1e-6)
        for a, p in zip(auto, m.parameters()): assert torch.allclose(p.grad, a, atol=1e-6)
    # only for DotProductBias in one process
    from collab_nb.models import get_model
    ml = lean_from_df(get_ratings('synthetic'))
    trn, _ = lean_split(ml, 0.2, seed=0)
    with pytest.raises(ValueError, match='fast_grad'): fit_lean(get_model('dot', ml.n_users, ml.n_items, 4), trn, fast_grad=True)
    h = fit_lean(get_model('dot', ml.n_users, ml.n_items, 4), trn, epochs=1)  # other models: autograd
    assert h[0]['train_loss'] > 0

def test_lean_split_is_random_split(tmp_path):
    "Data-parallel runs hold out exactly the rows `random_split` (and fastai's RandomSplitter) holds out"
    from collab_nb.data import random_split
    df = get_ratings('ml-100k')
    lean = lean_from_df(df)
    trn, val = lean_split(lean, 0.2, seed=7)
    _, rval = random_split(df, 0.2, seed=7)
    got = sorted(zip(lean.user_ids[val[0].numpy()-1].tolist(), lean.item_ids[val[1].numpy()-1].tolist()))
    assert got == sorted(zip(rval.user.tolist(), rval.movie.tolist()))

def test_cli_nproc_then_evaluate(tmp_path):
    "`collab-nb train --nproc 2 --out DIR` saves a model that `collab-nb evaluate` scores on the same held-out rows"
    import shutil, subprocess, sys
    from pathlib import Path
    exe = shutil.which('collab-nb') or str(Path(sys.executable).with_name('collab-nb'))
    out = tmp_path/'m'
    r = subprocess.run([exe, 'train', '--data', 'ml-100k', '--nproc', '2', '--epochs', '3', '--out', str(out), '--json'],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    tr = json.loads(r.stdout)
    assert tr['nproc'] == 2 and tr['n_valid'] == 20_000
    r = subprocess.run([exe, 'evaluate', '--model', str(out), '--json'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert abs(ev['rmse'] - tr['valid_rmse']) < 1e-4
