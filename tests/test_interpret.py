"collab_nb.interpret: works on the course's models and fastai's, and similar_items never returns the query."
import pytest
import torch
from fastai.collab import CollabDataLoaders, EmbeddingDotBias, EmbeddingNN
from fastai.learner import Learner
from fastai.losses import MSELossFlat
from fastai.tabular.model import get_emb_sz as fastai_get_emb_sz

from collab_nb.data import RatingsDataLoaders, load_movielens
from collab_nb.interpret import bias_table, bias_vs_mean, get_biases, get_factors, item_index, item_pca, plot_pca, ratings_info, similar_items
from collab_nb.models import DotProduct, DotProductBias, DotProductBiasScratch
from collab_nb.neural import CollabNN


@pytest.fixture(scope='module')
def ratings(): return load_movielens('ml-100k')

@pytest.fixture(scope='module')
def dls(ratings): return RatingsDataLoaders.from_df(ratings, seed=42, bs=4096)

@pytest.fixture(scope='module')
def fdls(ratings):  # the book's way: titles as items (shared titles merged by fastai)
    return CollabDataLoaders.from_df(ratings[['user', 'title', 'rating']], item_name='title', seed=42, bs=64)

def _randomise(m, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters(): p.copy_(torch.randn(p.shape, generator=g))
    return m

def dot_models(nu, ni, classes=None):
    return {'DotProductBias': DotProductBias(nu, ni, 8), 'DotProductBiasScratch': DotProductBiasScratch(nu, ni, 8),
            'EmbeddingDotBias': EmbeddingDotBias(8, nu, ni),
            'EmbeddingDotBias.from_classes': EmbeddingDotBias.from_classes(8, classes) if classes else EmbeddingDotBias(8, nu, ni)}

def test_tables_of_every_kind(dls):
    nu, ni = dls.vocab.n_users, dls.vocab.n_items
    for name, m in dot_models(nu, ni, dls.classes).items():
        _randomise(m)
        for users, n in ((False, ni), (True, nu)):
            assert get_factors(m, users).shape == (n, 8), name
            assert get_biases(m, users).shape == (n,), name
        assert get_factors(Learner(dls, m, loss_func=MSELossFlat())).shape == (ni, 8)
    m = _randomise(EmbeddingDotBias(8, nu, ni))
    assert torch.equal(get_factors(m), m.i_weight.weight.detach()) and torch.equal(get_biases(m, users=True), m.u_bias.weight[:,0].detach())
    s = _randomise(DotProductBiasScratch(nu, ni, 8))
    assert torch.equal(get_biases(s), s.item_bias.detach())
    # neural models: factors yes, biases no (clear TypeError)
    assert get_factors(CollabNN((nu, 5), (ni, 7))).shape == (ni, 7)
    assert get_factors(EmbeddingNN(fastai_get_emb_sz(dls), [10]), users=True).shape == (nu, fastai_get_emb_sz(dls)[0][1])
    for m in (CollabNN((nu, 5), (ni, 7)), DotProduct(nu, ni, 4), EmbeddingNN(fastai_get_emb_sz(dls), [10])):
        with pytest.raises(TypeError): get_biases(m)
    with pytest.raises(TypeError): get_factors(torch.nn.Linear(2, 3))

def test_ratings_info_ours_and_fastai(dls, fdls, ratings):
    info = ratings_info(dls)
    assert len(info) == dls.vocab.n_items and info.label.is_unique and info.label[0] == '#na#'
    assert info.n_ratings.sum() == len(dls.train_df)
    shared = info.title.duplicated(keep=False) & (info.index > 0)
    assert shared.sum() > 0 and info.label[shared].str.endswith(']').all()
    fi = ratings_info(fdls)
    assert len(fi) == len(fdls.classes['title']) and fi.n_ratings.sum() == len(fdls.train_ds)
    assert fi.label.is_unique
    u = ratings_info(dls, users=True)
    assert len(u) == dls.vocab.n_users and u.n_ratings.sum() == len(dls.train_df)

def test_item_index(dls):
    info = ratings_info(dls)
    i = item_index(dls, 'Chasing Amy (1997)')  # shared title -> most rated id
    rows = info[info.title == 'Chasing Amy (1997)']
    assert len(rows) == 2 and i == rows.n_ratings.idxmax()
    for other in rows.index: assert item_index(dls, info.label[other]) == other
    assert item_index(dls, 50) == item_index(dls, 'Star Wars (1977)') == item_index(dls, '50')
    with pytest.raises(KeyError, match='did you mean'): item_index(dls, 'Star Wars (1978)')

@pytest.mark.parametrize('which', ['DotProductBias', 'DotProductBiasScratch', 'EmbeddingDotBias', 'EmbeddingDotBias.from_classes'])
def test_similar_items_never_returns_query(dls, which):
    nu, ni = dls.vocab.n_users, dls.vocab.n_items
    m = _randomise(dot_models(nu, ni, dls.classes)[which], seed=1)
    learn = Learner(dls, m, loss_func=MSELossFlat())
    info = ratings_info(dls)
    queries = ['Star Wars (1977)', 'Chasing Amy (1997)', info.label[info.title == 'Chasing Amy (1997)'].iloc[0], 1, 1682]
    for q in queries:
        i = item_index(dls, q)
        for res in (similar_items(learn, q, n=ni), similar_items(m, q, n=20, dls=dls, min_ratings=10)):
            titles = info.set_index('label').loc[res.label, 'title']
            assert info.title[i] not in set(titles) and info.label[i] not in set(res.label)
            assert '#na#' not in set(res.label) and res.similarity.is_monotonic_decreasing
    # the query's own factors equal to another item's: that item is most similar, the query still absent
    with torch.no_grad():
        t = m.i_weight.weight if hasattr(m, 'i_weight') else m.item_factors
        t = t.weight if isinstance(t, torch.nn.Module) else t
        t[5] = t[item_index(dls, 'Star Wars (1977)')]
    res = similar_items(m, 'Star Wars (1977)', n=3, dls=dls)
    assert res.label[0] == info.label[5] and 'Star Wars (1977)' not in set(res.label)

def test_similar_items_fastai_title_dls(fdls):
    m = _randomise(EmbeddingDotBias.from_classes(8, fdls.classes), seed=2)
    learn = Learner(fdls, m, loss_func=MSELossFlat())
    res = similar_items(learn, 'Star Wars (1977)', n=len(fdls.classes['title']))
    assert 'Star Wars (1977)' not in set(res.label) and len(res) == len(fdls.classes['title']) - 2
    assert len(bias_table(learn)) == len(fdls.classes['title']) - 1

def test_bias_and_pca_on_both(dls):
    nu, ni = dls.vocab.n_users, dls.vocab.n_items
    for m in (DotProductBias(nu, ni, 8), EmbeddingDotBias(8, nu, ni)):
        _randomise(m)
        t = bias_vs_mean(m, dls, n=5, highest=True, min_ratings=20)
        assert len(t) == 5 and list(t.columns)[:2] == ['by bias', 'bias'] and t.bias.is_monotonic_decreasing
        p = item_pca(m, dls, n_fit=200, k=2)
        assert len(p) == 200 and {'pc1', 'pc2'} <= set(p.columns) and p.pc1.var() >= p.pc2.var()
        assert len(p.attrs['explained']) == 2
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ax = plot_pca(p, n=20); assert len(ax.texts) == 20; plt.close('all')

def test_needs_dls_for_bare_model(dls):
    m = DotProductBias(dls.vocab.n_users, dls.vocab.n_items, 4)
    with pytest.raises(ValueError, match='dls'): similar_items(m, 'Star Wars (1977)')
