"""Benchmark: Bayesian SVD++ (`bayes`, 08b_bayes) beside the dot-bias model, on the seeded 80/20 split and the official u1-u5 folds, in one process.

Rating error (MSE on the split, RMSE on the folds) and seconds on one torch thread, both models with their CLI defaults
(`DEFAULTS`). `bayes` is reported under two protocols, labelled (see `bench_svdpp.py`):
- train-only: the priors know which films each user rated in training (the default, and the only one the CLI uses);
- transductive: they also know which films each user rated in the test set, ratings hidden; not comparable with
  train-only numbers. The published record on u1, 0.889 (GLocal-K), is quoted for reference.

    python benchmarks/bench_bayes.py [--threads 1] [--folds u1,u2,u3,u4,u5] [--no-trans]

Last line: `split mse A (bayes) vs B (dot-bias), Kx the seconds; folds rmse C (bayes, train-only) vs D (dot-bias); u1 E (train-only), F (transductive)`.
"""
import argparse, warnings
import torch
from bench_svdpp import _fit

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    p.add_argument('--folds', default='u1,u2,u3,u4,u5', help='official folds to run ("" for none)')
    p.add_argument('--no-trans', action='store_true', help='skip the transductive protocol')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(a.threads)
    from collab_nb.data import load_movielens, random_split, movielens_fold
    trn, val = random_split(load_movielens('ml-100k'), 0.2, seed=42)
    rows = []
    def add(data, name, protocol, t, mse):
        rows.append((data, name, protocol, t, mse)); print(f"  done: {data} {name} {protocol}: {t:.1f}s, mse {mse:.4f}, rmse {mse**0.5:.4f}", flush=True)
    for name in ('dot-bias', 'bayes'): add('seeded 80/20', name, 'train-only', *_fit(trn, val, name))
    folds = [f for f in a.folds.split(',') if f]
    for f in folds:
        ft, fv = movielens_fold(f)
        add(f, 'dot-bias', 'train-only', *_fit(ft, fv, 'dot-bias'))
        add(f, 'bayes', 'train-only', *_fit(ft, fv, 'bayes'))
        if not a.no_trans: add(f, 'bayes', 'transductive', *_fit(ft, fv, 'bayes', extra_history=fv))
    print(f"\n{'data':14s} {'model':9s} {'protocol':13s} {'seconds':>8s} {'MSE':>8s} {'RMSE':>8s}")
    for d, n, pr, t, mse in rows: print(f"{d:14s} {n:9s} {pr:13s} {t:8.1f} {mse:8.4f} {mse**0.5:8.4f}")
    mean = lambda n, pr: sum(r[4]**0.5 for r in rows if r[0] in folds and r[1]==n and r[2]==pr) / len(folds)
    pairs = [('dot-bias', 'train-only'), ('bayes', 'train-only')] + ([] if a.no_trans else [('bayes', 'transductive')])
    for n, pr in pairs if folds else []: print(f"{'mean ' + ','.join(folds):14s} {n:9s} {pr:13s} {'':8s} {'':8s} {mean(n, pr):8.4f}")
    secs = {n: sum(r[3] for r in rows if r[1] == n and r[2] == 'train-only') for n in ('dot-bias', 'bayes')}
    split = {r[1]: r for r in rows if r[0] == 'seeded 80/20'}
    u1 = {r[2]: r[4]**0.5 for r in rows if r[0] == 'u1' and r[1] == 'bayes'}
    print(f"split mse {split['bayes'][4]:.4f} (bayes) vs {split['dot-bias'][4]:.4f} (dot-bias), {secs['bayes']/secs['dot-bias']:.1f}x the seconds"
          + (f"; folds rmse {mean('bayes', 'train-only'):.4f} (bayes, train-only) vs {mean('dot-bias', 'train-only'):.4f} (dot-bias)" if folds else '')
          + ''.join(f"; u1 {v:.4f} ({k})" for k, v in u1.items()) + (" (published record on u1: 0.889)" if u1 else ''))

if __name__ == '__main__': main()
