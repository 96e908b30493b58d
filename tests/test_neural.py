"collab_nb.neural: embedding sizes match fastai's; CollabNN stays inside y_range and trains."
import pytest
import torch
from fastai.tabular.model import emb_sz_rule as fastai_emb_sz_rule
from fastai.tabular.model import get_emb_sz as fastai_get_emb_sz

from collab_nb.data import RatingsDataLoaders, load_movielens, synth_ratings
from collab_nb.neural import CollabNN, emb_sz_rule, get_emb_sz


@pytest.fixture(scope='module')
def ml100k(): return load_movielens('ml-100k')

def test_emb_sz_rule_matches_fastai():
    for n in [1, 2, 3, 10, 57, 944, 1683, 10**5, 10**7]: assert emb_sz_rule(n) == fastai_emb_sz_rule(n)

@pytest.mark.parametrize('seed', [42, 0])
def test_get_emb_sz_equals_fastai_ours(ml100k, seed):
    dls = RatingsDataLoaders.from_df(ml100k, seed=seed, bs=1024)
    assert get_emb_sz(dls) == fastai_get_emb_sz(dls)
    assert get_emb_sz(dls, {'movie': 30}) == fastai_get_emb_sz(dls, {'movie': 30})
    assert get_emb_sz(dls.vocab) == get_emb_sz(dls)

def test_get_emb_sz_equals_fastai_collab_dataloaders(ml100k):
    from fastai.collab import CollabDataLoaders
    fdls = CollabDataLoaders.from_df(ml100k, item_name='title', seed=42, bs=64)
    assert get_emb_sz(fdls) == fastai_get_emb_sz(fdls)
    # titles are fewer than movie ids (some titles name two ids), so the item table is smaller
    assert get_emb_sz(fdls)[1][0] < ml100k.movie.nunique() + 1

@pytest.mark.parametrize('y_range', [(0, 5.5), (1, 5), (-2.0, 3.0)])
def test_collabnn_output_inside_y_range(y_range):
    torch.manual_seed(0)
    m = CollabNN((50, 8), (70, 12), y_range=y_range, n_act=16)
    with torch.no_grad():  # push the pre-activation to extremes: output must stay inside the range
        for p in m.parameters(): p.mul_(1000)
    x = torch.stack([torch.randint(0, 50, (500,)), torch.randint(0, 70, (500,))], 1)
    out = m(x)
    assert out.shape == (500,)
    assert (out >= y_range[0]).all() and (out <= y_range[1]).all()

def test_collabnn_no_y_range_and_sizes():
    m = CollabNN((5, 3), (7, 4), y_range=None, n_act=10)
    assert m.layers[0].in_features == 7 and m.layers[0].out_features == 10
    assert m(torch.tensor([[1, 2], [4, 6]])).shape == (2,)

def test_collabnn_learns_synthetic():
    from collab_nb.train import fit_model
    torch.manual_seed(0)
    df, _ = synth_ratings(n_users=200, n_items=150, seed=1)
    dls = RatingsDataLoaders.from_df(df, seed=0, bs=512)
    learn = fit_model(CollabNN(*get_emb_sz(dls)), dls, epochs=8, lr=1e-2, wd=0.01)
    assert learn.recorder.values[-1][1] < dls.valid.dataset.y.var().item()  # better than predicting the mean
