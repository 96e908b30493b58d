"""Benchmark: `collab_nb.tune` (seeded TPE, median pruning) against the same study unpruned and against the registry's defaults.

Same process, same parts, one torch thread on every side: ml-100k's seeded random split (test 20% made first, valid
20% carved from the rest with seed+1). Every choice reads the valid part only; each side's settings are then trained
once more on the whole training part and the test part is read once, at the end, to report.

    python benchmarks/bench_tune.py [--model dot-bias] [--trials 20] [--data ml-100k] [--threads 1] [--no-unpruned]

Prints a table (seconds of tuning, trials complete/pruned, valid MSE of the choice, test RMSE of the final fit) and
the target line: `tune <model> <trials> trials: S s (target <= 60 s)`.
"""
import argparse
import time
import warnings

import torch


def _final(data, model, hp):
    "Test scores of `hp` trained on the whole training part (test read here, once)"
    from collab_nb.runs import Protocol, report, train_run
    res = report(train_run(Protocol(data, valid_pct=0.), model, hp))
    return {k: v for k, v in res.items() if k.startswith('test_') and k != 'test_pct'}

def _valid(p, model, hp):
    "The valid score of `hp`, trained on the train part (what the tuner would see)"
    from collab_nb.metrics import valid_report
    from collab_nb.registry import get_spec
    from collab_nb.runs import train_run
    from collab_nb.tune import METRICS
    r = train_run(p, model, hp)
    kind = get_spec(model).kind
    return valid_report(r.model, r.vocab, r.dls, kind == 'ranking')[METRICS[kind][0]]

def _unpruned(p, model, trials, seed):
    "The same seeded TPE study with no pruner: (seconds, best params, best value, n complete)"
    import optuna

    from collab_nb.metrics import valid_report
    from collab_nb.registry import check_hp, get_spec
    from collab_nb.runs import train_run
    from collab_nb.tune import METRICS, trial_hp
    spec = get_spec(model)
    metric, direction = METRICS[spec.kind]
    def f(trial):
        r = train_run(p, model, trial_hp(spec, trial, {}))
        return valid_report(r.model, r.vocab, r.dls, spec.kind == 'ranking')[metric]
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed), pruner=optuna.pruners.NopPruner())
    t = time.perf_counter(); study.optimize(f, n_trials=trials); t = time.perf_counter() - t
    return t, check_hp(spec, study.best_params), study.best_value, trials

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='dot-bias')
    ap.add_argument('--data', default='ml-100k')
    ap.add_argument('--trials', type=int, default=20)
    ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--threads', type=int, default=1, help='torch threads for every side (default 1)')
    ap.add_argument('--no-unpruned', action='store_true', help='skip the unpruned study')
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(a.threads)
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from collab_nb.registry import get_spec
    from collab_nb.runs import Protocol
    from collab_nb.tune import tune
    p = Protocol(a.data, seed=a.seed)
    pr = p.parts()
    print(f"{a.data}: train {len(pr.train):,} · valid {len(pr.valid):,} · test {len(pr.test):,} ratings; model {a.model}; "
          f"{a.trials} trials; {torch.get_num_threads()} thread(s)")
    rows = []
    defaults = get_spec(a.model).defaults
    t = time.perf_counter(); v = _valid(p, a.model, defaults); t = time.perf_counter() - t
    rows.append(('registry defaults (no search)', t, '1/0', v, _final(a.data, a.model, defaults)))
    t = time.perf_counter(); res = tune(p, a.model, a.trials, seed=a.seed); t_tune = time.perf_counter() - t
    states = [r['state'] for r in res['trials']]
    rows.append(('tune: TPE + median pruning', t_tune, f"{states.count('COMPLETE')}/{states.count('PRUNED')}", res['best_value'],
                 _final(a.data, a.model, res['params'])))
    if not a.no_unpruned:
        t, hp, v, n = _unpruned(p, a.model, a.trials, a.seed)
        rows.append(('TPE, no pruning', t, f"{n}/0", v, _final(a.data, a.model, hp)))
    tk = [k for k in rows[0][4] if k.endswith(('rmse', 'ndcg'))][0]
    print(f"\n{'side':32} {'seconds':>8} {'done/pruned':>12} {res['metric']:>11} {tk:>10}")
    for name, s, dp, v, fin in rows: print(f"{name:32} {s:8.1f} {dp:>12} {v:11.4f} {fin[tk]:10.4f}")
    print(f"\nchosen settings: {res['params']}")
    print(f"tune {a.model} {a.trials} trials: {t_tune:.1f} s (target <= 60 s)")

if __name__ == '__main__': main()
