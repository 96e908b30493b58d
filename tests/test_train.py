"Correctness of collab_nb.train: models by name, the fused path computes the same model and loss, fit_model trains (never timing)."
import pytest
import torch
from fastai.collab import EmbeddingDotBias
from fastai.learner import Learner
from fastai.losses import MSELossFlat
from torch import nn

from collab_nb.models import DotProduct, DotProductBias, DotProductBiasScratch, is_fusable, model_tables
from collab_nb.registry import MODELS, check_hp, get_model
from collab_nb.train import FAST_RECIPE, FusedDot, FusedDotCB, RowL2, fit_model, row_l2


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads(); torch.set_num_threads(1); yield; torch.set_num_threads(old)

@pytest.fixture(scope='module')
def ratings():
    from collab_nb.data import load_movielens
    return load_movielens('ml-100k')

def _batch(n=257, n_users=11, n_items=23, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.stack([torch.randint(0, n_users, (n,), generator=g), torch.randint(0, n_items, (n,), generator=g)], 1)
    return x, torch.rand(n, 1, generator=g)*4+1

def test_get_model_names():
    x, _ = _batch()
    for name in MODELS:
        m = get_model(name, 11, 23, 5)
        if hasattr(m, 'set_history'):  # a ranking model that scores from each user's history
            with pytest.raises(ValueError, match='no history'): m(x)
            m.set_history(x)
        assert m(x).shape == (len(x),), name
    assert isinstance(get_model('fastai', 11, 23), EmbeddingDotBias)
    assert get_model('dot-bias', 11, 23, 7).user_factors.weight.shape == (11, 7)
    with pytest.raises(ValueError, match='unknown model'): get_model('svd', 3, 4)

def test_defaults_accepted_and_fit_models_have_fit_settings():
    "Each record accepts its own defaults; a model fitted by `fit_model` (setup None or returning steps) has epochs, lr, wd, bs"
    for name, spec in MODELS.items():
        assert check_hp(spec, spec.defaults) == spec.defaults, name
        if spec.setup is None: assert set(spec.defaults) >= {'epochs', 'lr', 'wd', 'bs'}, name
    assert set(FAST_RECIPE) >= {'n_factors', 'epochs', 'lr', 'wd', 'bs'}

def _models():
    return [DotProductBias(11, 23, 4), DotProduct(11, 23, 4, y_range=(0, 5.5)), DotProduct(11, 23, 4),
            DotProductBiasScratch(11, 23, 4), EmbeddingDotBias(4, 11, 23, y_range=(0, 5.5)), get_model('fastai', 11, 23, 4)]

@pytest.mark.parametrize('wd', [0., 0.1])
@pytest.mark.parametrize('i', range(6))
def test_fused_same_model_same_loss(i, wd):
    "FusedDot predicts exactly like the model; its gradients are those of MSELossFlat + wd*row_l2"
    torch.manual_seed(i)
    m = _models()[i]
    with torch.no_grad():
        for p in m.parameters(): p.normal_(0, 0.3)
    x, y = _batch(seed=i)
    loss = MSELossFlat()
    m.zero_grad(); (loss(m(x), y) + wd*row_l2(model_tables(m), x)).backward()
    g_ref = [p.grad.clone() for p in m.parameters()]
    m.zero_grad(); pred = FusedDot(m, wd)(x); loss(pred, y).backward()
    torch.testing.assert_close(pred, m(x), rtol=1e-5, atol=1e-6)
    for a, b in zip(g_ref, [p.grad for p in m.parameters()]): torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    with torch.no_grad(): torch.testing.assert_close(FusedDot(m, wd)(x), m(x))

def test_row_l2_definition():
    m = DotProductBias(3, 4, 2)
    x = torch.tensor([[1, 2], [1, 3], [2, 2]])
    t = model_tables(m)
    per_rating = [t[0][u].pow(2).sum() + t[1][i].pow(2).sum() + t[2][u].pow(2).sum() + t[3][i].pow(2).sum() for u, i in x.tolist()]
    torch.testing.assert_close(row_l2(t, x), torch.stack(per_rating).mean())
    assert model_tables(nn.Linear(2, 2)) is None
    assert not is_fusable(get_model('nn', 3, 4, 2))
    with pytest.raises(TypeError): FusedDot(get_model('nn', 3, 4, 2))

def test_fit_model_fast_path_reaches_reference_accuracy(ratings):
    from collab_nb.data import RatingsDataLoaders
    c = FAST_RECIPE
    dls = RatingsDataLoaders.from_df(ratings, seed=42, bs=c['bs'])
    torch.manual_seed(0)
    model = get_model('dot-bias', dls.vocab.n_users, dls.vocab.n_items, c['n_factors'])
    learn = fit_model(model, dls, epochs=c['epochs'], lr=c['lr'], wd=c['wd'])
    assert isinstance(learn, Learner) and learn.model is model      # your model, not the fused wrapper
    assert len(learn.recorder.values) == c['epochs']
    valid_mse = learn.recorder.values[-1][1]
    assert valid_mse <= 0.85, valid_mse
    preds, targs = learn.get_preds()                                  # the recorded loss is the plain MSE
    torch.testing.assert_close(float(((preds.view(-1)-targs.view(-1))**2).mean()), valid_mse, rtol=1e-4, atol=1e-5)

def test_fit_model_other_models_and_options(ratings):
    from collab_nb.data import RatingsDataLoaders
    dls = RatingsDataLoaders.from_df(ratings, seed=42, bs=8192)
    nu, ni = dls.vocab.n_users, dls.vocab.n_items
    torch.manual_seed(0)
    learn = fit_model(get_model('nn', nu, ni, 20), dls, epochs=2, lr=1e-2, wd=0.1)   # RowL2 + decoupled wd on layers
    assert any(isinstance(cb, RowL2) for cb in learn.cbs)
    assert learn.opt.hypers[0]['wd'] == 0 and learn.opt.hypers[1]['wd'] == 0.1
    assert learn.recorder.values[-1][1] < 1.2
    import random
    torch.manual_seed(0); dls.train.rng = random.Random(0)   # same init, same shuffles
    unfused = fit_model(get_model('dot-bias', nu, ni), dls, epochs=2, lr=5e-2, wd=0.1, fused=False)
    torch.manual_seed(0); dls.train.rng = random.Random(0)
    fused = fit_model(get_model('dot-bias', nu, ni), dls, epochs=2, lr=5e-2, wd=0.1)
    assert any(isinstance(cb, FusedDotCB) for cb in fused.cbs)
    assert abs(unfused.recorder.values[-1][1] - fused.recorder.values[-1][1]) < 1e-3  # same training, up to float rounding
    dec = fit_model(get_model('dot-bias', nu, ni), dls, epochs=1, lr=5e-2, wd=0.1, reg='decoupled')
    assert dec.opt.hypers[0]['wd'] == 0.1
    with pytest.raises(ValueError): fit_model(nn.Sequential(nn.Linear(2, 1)), dls, epochs=1, reg='rows')

def test_fit_model_restores_model_after_error(ratings):
    from fastai.callback.core import Callback

    from collab_nb.data import RatingsDataLoaders
    class Boom(Callback):
        def after_batch(self): raise RuntimeError('boom')
    dls = RatingsDataLoaders.from_df(ratings.iloc[:5000], seed=42, bs=1024)
    model = get_model('dot-bias', dls.vocab.n_users, dls.vocab.n_items)
    threads = torch.get_num_threads()
    with pytest.raises(RuntimeError, match='boom'): fit_model(model, dls, epochs=1, cbs=[Boom()], n_threads=1)
    assert torch.get_num_threads() == threads
