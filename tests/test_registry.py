"""The model registry: one record per model, importing `get_model` gives them all, every default is accepted back, and
every registered model passes the contract (build, fit on tiny data, save, load, recommend, fold in a newcomer)."""
import pytest
import torch

from collab_nb.registry import MODELS, BadValue, HParam, ModelSpec, check_hp, check_value, get_model, get_spec, param, parse_value, suggest

TINY = dict(epochs=2, n_factors=4, ar_epochs=2, hidden=8, n_samples=5, burn=1)  # small settings, where a model has them

def test_one_module_fills_the_registry():
    "Only `registry` registers models, and it imports every module that defines one: importing it (for `get_model`) gives them all"
    import ast
    from pathlib import Path
    pkg = Path(__file__).resolve().parents[1]/'collab_nb'
    callers = {p.stem for p in pkg.glob('*.py') if p.name != '_modidx.py' and 'register_model(' in p.read_text()}
    assert callers == {'registry'}, callers
    tree = ast.parse((pkg/'registry.py').read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1}
    assert {'models', 'neural', 'ranking', 'svdpp', 'bayes'} <= imported, imported
    assert type(get_model('nn', n_users=5, n_items=5)).__name__ == 'CollabNN' and len(MODELS) == 14

def test_records_are_complete_and_defaults_accepted():
    for name, spec in MODELS.items():
        assert isinstance(spec, ModelSpec) and spec.name == name and spec.kind in ('rating', 'ranking') and spec.doc, name
        assert check_hp(spec, spec.defaults) == spec.defaults, name
        for p in spec.params:
            assert p.help, (name, p.name)
            if p.search is None: continue
            for v in p.search: check_value(p, v if p.kind == 'cat' else type(p.default)(v))   # the search range is accepted

def test_ease_has_its_own_lam():
    ease = get_spec('ease')
    assert set(ease.defaults) == {'lam'} and ease.defaults['lam'] == 300.
    with pytest.raises(BadValue, match=r"wd is not a setting of 'ease' \(its settings: lam\)"): check_hp(ease, {'wd': 300.})
    with pytest.raises(BadValue, match='lam -1.0: expected a finite number ≥ 0') as e: check_hp(ease, {'lam': -1.})
    assert e.value.arg == 'lam'

def test_values_checked_and_parsed_by_kind():
    bs, lr, target = param(get_spec('dot-bias'), 'bs'), param(get_spec('dot-bias'), 'lr'), param(get_spec('dae'), 'target')
    assert check_value(bs, 2048.0) == 2048 and parse_value(lr, '1e-2') == 0.01 and parse_value(target, 'watched') == 'watched'
    for p, v in [(bs, 0), (bs, 2.5), (bs, True), (lr, 0.), (lr, float('nan')), (lr, '0.1'), (target, 'liked ')]:
        with pytest.raises(BadValue): check_value(p, v)
    with pytest.raises(BadValue, match="bs 'x'"): parse_value(bs, 'x')

def test_search_ranges_drive_a_tuner():
    "What an Optuna trial would be asked: `suggest_float`/`suggest_int` with the record's range and scale, categorical choices"
    class Trial:
        def __init__(self): self.calls = []
        def suggest_float(self, name, low, high, log=False): self.calls.append(('float', name, low, high, log)); return high
        def suggest_int(self, name, low, high, log=False): self.calls.append(('int', name, low, high, log)); return low
        def suggest_categorical(self, name, choices): self.calls.append(('cat', name, tuple(choices))); return choices[-1]
    t = Trial()
    hp = {p.name: suggest(p, t) for p in get_spec('dae').params}
    assert ('float', 'lr', 1e-3, 1e-1, True) in t.calls and ('cat', 'target', ('liked', 'watched')) in t.calls
    assert hp['bs'] == 128 and check_hp(get_spec('dae'), hp) == hp   # not searched: the default; every drawn value is accepted
    assert suggest(HParam('k', 3, lo=1, hi=9, search=(1, 9)), t) == 1

def test_get_model_refuses_training_settings_and_unknown_names():
    assert get_model('svdpp-blend', 10, 20, hidden=7).autorec.enc.out_features == 7
    with pytest.raises(BadValue, match="lr is a training setting"): get_model('dot', 10, 20, lr=0.1)
    with pytest.raises(BadValue, match="'svd': unknown model"): get_model('svd', 3, 4)
    with pytest.raises(ValueError, match='kind must be'): ModelSpec('x', None, 'stars')

@pytest.fixture(scope='module')
def tiny():
    from collab_nb.data import synth_ratings
    return synth_ratings(n_users=60, n_items=40, n_factors=3, seed=6)[0]

@pytest.mark.parametrize('name', list(MODELS))
def test_contract(name, tiny, tmp_path):
    "Every registered model: build, fit on tiny data, save, load (same predictions), recommend, fold in a new user"
    from collab_nb.modelfile import load_model, save_model
    from collab_nb.recommend import fold_in, recommend, recommend_all
    from collab_nb.train import train_model
    spec = get_spec(name)
    torch.set_num_threads(1)
    m, vocab, dls, hp = train_model(tiny, name, seed=0, **{k: v for k, v in TINY.items() if k in spec.defaults})
    save_model(tmp_path/'m', m, vocab, dict(model=name, **hp), None, dls.train.dataset.x)
    m2, v2, cfg = load_model(tmp_path/'m')
    x = dls.valid.dataset.x
    with torch.no_grad(): assert torch.equal(m(x), m2(x)), name
    seen = v2.seen
    u, top, val = next(recommend_all(m2, v2, 5, seen))
    assert top.shape == (len(u), 5) and torch.isfinite(val).all()
    assert not set(top[0].tolist()) & set(seen[seen[:, 0] == u[0], 1].tolist())
    assert spec.fold_in, f"{name} cannot take a new user: say so in its record, and in `recommend`"
    items = torch.tensor([1, 2, 3])
    new = fold_in(m2, items, [5., 1., 4.]) if spec.kind == 'rating' else fold_in(m2, items)
    recs = recommend(new, v2, 0, 5, items)
    assert len(recs) == 5 and not {1, 2, 3} & set(v2.item_idx(recs.item).tolist())
    with torch.no_grad(): assert torch.equal(m2(x), m(x)), f"{name}: fold_in changed the trained model"
