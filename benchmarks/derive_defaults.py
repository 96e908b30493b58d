"""Re-derive the registry's defaults with `collab_nb.tune` on ml-100k's valid part, and check them on ml-latest-small.

For each model: tune on the valid part of ml-100k's seeded random split (the test part is never read), then score on
ml-latest-small's valid part (a) the registry's defaults, (b) the settings tuned on ml-100k, (c) settings tuned on
ml-latest-small itself. Where (b) loses clearly to (c), one setting cannot serve both data sets: `collab-nb train
--tune N` tunes on the user's own data before the final fit. No test part is read anywhere in this script.

    python benchmarks/derive_defaults.py [--models dot-bias,ease,dae] [--trials 20]

One torch thread. Prints one row per model and data set, and for each model whether its defaults match what tuning
on ml-100k chooses (same value for categorical settings and whole numbers within 25%, floats within a factor 2).
"""
import argparse
import warnings

import torch


def _valid(p, model, hp):
    "Valid score of `hp` on protocol `p` (trained on its train part)"
    from collab_nb.metrics import valid_report
    from collab_nb.registry import get_spec
    from collab_nb.runs import train_run
    from collab_nb.tune import METRICS
    kind = get_spec(model).kind
    r = train_run(p, model, hp)
    return valid_report(r.model, r.vocab, r.dls, kind == 'ranking')[METRICS[kind][0]]

def _close(a, b)->bool:
    "Whether a default `a` and a tuned value `b` agree (see the module's docstring)"
    if isinstance(a, str) or isinstance(b, str): return a == b
    if isinstance(a, int) and isinstance(b, int): return abs(a - b) <= 0.25*max(abs(a), 1)
    return a == b == 0 or (a > 0 and b > 0 and 0.5 <= a/b <= 2)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', default='dot-bias,ease,dae')
    ap.add_argument('--trials', type=int, default=20)
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(1)
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from collab_nb.registry import get_spec
    from collab_nb.runs import Protocol
    from collab_nb.tune import METRICS, searched, tune
    p100, pls = Protocol('ml-100k'), Protocol('ml-latest-small')
    print(f"{'model':10} {'metric':11} {'100k: defaults':>15} {'100k: tuned':>12} {'mls: defaults':>14} {'mls: 100k-tuned':>16} {'mls: tuned':>11}")
    for m in a.models.split(','):
        spec = get_spec(m)
        t100 = tune(p100, m, a.trials)
        tls = tune(pls, m, a.trials)
        row = [_valid(p100, m, spec.defaults), t100['best_value'], _valid(pls, m, spec.defaults), _valid(pls, m, t100['params']), tls['best_value']]
        print(f"{m:10} {METRICS[spec.kind][0]:11} " + ' '.join(f"{v:{w}.4f}" for v, w in zip(row, (15, 12, 14, 16, 11))))
        diff = {q.name: (spec.defaults[q.name], t100['params'][q.name]) for q in searched(spec) if not _close(spec.defaults[q.name], t100['params'][q.name])}
        print(f"  defaults reproduced by tuning on ml-100k: {'yes' if not diff else 'no, ' + ', '.join(f'{k} {d} vs tuned {v:.4g}' if not isinstance(v, str) else f'{k} {d} vs tuned {v}' for k, (d, v) in diff.items())}")

if __name__ == '__main__': main()
