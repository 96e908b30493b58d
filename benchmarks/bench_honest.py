"""Benchmark: the headline numbers with every choice made on a valid part, the test part read once, side by side.

Ranking (both data sets, the seeded random split: test 20% first, valid 20% of the rest, relevant = rating in the
top quarter of the scale): the ranker `collab-nb train` saves by default and EASE, each at the registry's defaults
and tuned by `collab_nb.tune` on the valid part, then trained on the whole training part and scored once on test.
Rating (ml-100k's u1 fold): models tuned on a valid part carved from u1.base only, then trained on all of u1.base
and scored once on u1.test (the published record for this split is 0.8889).

    python benchmarks/bench_honest.py [--rank-trials 12] [--rate-trials 20] [--models dot-bias] [--no-rank] [--no-rate]

Every side runs in this process on one torch thread. Prints one table per part and the target lines:
`ranking <data>: default ranker A vs EASE B (tuned on valid): +x% (target >= +1%)` and `u1 test RMSE: R (target <= 0.889)`.
"""
import argparse
import time
import warnings

import torch


def _test(data, fold, model, hp, kind):
    "The test score of `model` with `hp`, trained on the whole training part (test read here, once)"
    from collab_nb.runs import Protocol, report, train_run
    res = report(train_run(Protocol(data, fold, valid_pct=0.), model, hp))
    return res['test_ndcg' if kind == 'ranking' else 'test_rmse']

def _side(data, fold, model, trials):
    "Rows for `model`: defaults and tuned, each with its valid score, test score and seconds"
    from collab_nb.registry import get_spec
    from collab_nb.runs import Protocol
    from collab_nb.tune import tune
    spec, p = get_spec(model), Protocol(data, fold)
    rows = []
    from collab_nb.metrics import valid_report
    from collab_nb.runs import train_run
    from collab_nb.tune import METRICS
    metric = METRICS[spec.kind][0]
    t = time.perf_counter(); r = train_run(p, model, {}); v = valid_report(r.model, r.vocab, r.dls, spec.kind == 'ranking')[metric]
    rows.append((f'{model}, registry defaults', v, _test(data, fold, model, spec.defaults, spec.kind), time.perf_counter() - t, spec.defaults))
    t = time.perf_counter(); res = tune(p, model, trials)
    rows.append((f'{model}, tuned ({trials} trials)', res['best_value'], _test(data, fold, model, res['params'], spec.kind), time.perf_counter() - t, res['params']))
    return metric, rows

def _table(title, metric, test_name, rows):
    print(f"\n{title}\n{'side':34} {metric:>11} {test_name:>10} {'seconds':>8}  settings")
    for name, v, te, s, hp in rows:
        hp = {k: (round(x, 4) if isinstance(x, float) else x) for k, x in hp.items()}
        print(f"{name:34} {v:11.4f} {te:10.4f} {s:8.1f}  {hp}")

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rank-trials', type=int, default=12)
    ap.add_argument('--rate-trials', type=int, default=20)
    ap.add_argument('--models', default='dot-bias', help='rating models tuned on u1.base, comma-separated')
    ap.add_argument('--ranker', default='ease-dae', help="the ranker `train` saves by default")
    ap.add_argument('--data', default='ml-100k,ml-latest-small')
    ap.add_argument('--no-rank', action='store_true'); ap.add_argument('--no-rate', action='store_true')
    a = ap.parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(1)
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    lines = []
    if not a.no_rank:
        for data in a.data.split(','):
            rows = []
            for m in (a.ranker, 'ease'): metric, r = _side(data, None, m, a.rank_trials); rows += r
            _table(f"ranking, {data} (valid: {metric}; test: NDCG@10, read once)", metric, 'test_ndcg', rows)
            ours, ease = rows[1][2], rows[3][2]
            lines.append(f"ranking {data}: default ranker {ours:.4f} vs EASE {ease:.4f} (both tuned on valid): {100*(ours/ease-1):+.1f}% (target >= +1%)")
    if not a.no_rate:
        rows = []
        for m in a.models.split(','): metric, r = _side('ml-100k', 'u1', m, a.rate_trials); rows += r
        _table("rating, ml-100k u1 (valid carved from u1.base; test: u1.test RMSE, read once)", metric, 'test_rmse', rows)
        best = min(r[2] for r in rows if 'tuned' in r[0])
        lines.append(f"u1 test RMSE, best tuned on u1.base alone: {best:.4f} (target <= 0.889; published record 0.8889)")
    print('\n' + '\n'.join(lines))

if __name__ == '__main__': main()
