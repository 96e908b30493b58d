"""Benchmark: the accuracy models (`svdpp`, `svdpp-blend` from 08_svdpp, `bayes` from 08b_bayes) beside the dot-bias model, on the seeded 80/20 split and the official u1-u5 folds, in one process.

Rating error (MSE on the split, RMSE on the folds) and seconds on one torch thread, every model with its CLI
defaults (`DEFAULTS`). The accuracy models are reported under two protocols, labelled:
- train-only: what a model knows of which items a user rated comes from the training pairs (the default, and the
  only one the CLI uses);
- transductive: it also knows which items each user rated in the test set, ratings hidden (as in the Netflix Prize
  setting); not comparable with train-only numbers. (The blend's AutoRec part always uses the training ratings only.)
The published record on u1, RMSE 0.889 (GLocal-K), is quoted for reference.

    python benchmarks/bench_svdpp.py [--threads 1] [--models svdpp,svdpp-blend,bayes] [--folds u1,u2,u3,u4,u5] [--no-trans]

Last lines, one per model: `split mse A (model) vs B (dot-bias), Kx the seconds; folds rmse C (model, train-only) vs D (dot-bias); u1 E (train-only), F (transductive)`.
"""
import argparse
import time
import warnings

import torch


def _fit(trn, tst, name, **kw):
    "(seconds, MSE on `tst`) of model `name` trained on `trn` with its defaults"
    from collab_nb.train import train_model
    t = time.perf_counter()
    m, vocab, dls, hp = train_model(trn, name, tst, seed=42, **kw)
    t = time.perf_counter() - t
    with torch.no_grad(): p = m(dls.valid.dataset.x)
    return t, float(((p - dls.valid.dataset.y[:,0])**2).mean())

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    p.add_argument('--models', default='svdpp,svdpp-blend,bayes', help='models to compare with dot-bias')
    p.add_argument('--folds', default='u1,u2,u3,u4,u5', help='official folds to run ("" for none)')
    p.add_argument('--no-trans', action='store_true', help='skip the transductive protocol')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(a.threads)
    from collab_nb.data import load_movielens, movielens_fold, random_split
    trn, val = random_split(load_movielens('ml-100k'), 0.2, seed=42)
    models, folds = [m for m in a.models.split(',') if m], [f for f in a.folds.split(',') if f]
    protocols = ['train-only'] + ([] if a.no_trans else ['transductive'])
    rows = []
    def add(data, name, protocol, t, mse):
        rows.append((data, name, protocol, t, mse)); print(f"  done: {data} {name} {protocol}: {t:.1f}s, mse {mse:.4f}, rmse {mse**0.5:.4f}", flush=True)
    for name in ['dot-bias'] + models: add('seeded 80/20', name, 'train-only', *_fit(trn, val, name))
    for f in folds:
        ft, fv = movielens_fold(f)
        add(f, 'dot-bias', 'train-only', *_fit(ft, fv, 'dot-bias'))
        for name in models:
            for pr in protocols: add(f, name, pr, *_fit(ft, fv, name, **({'extra_history': fv} if pr == 'transductive' else {})))
    print(f"\n{'data':14s} {'model':11s} {'protocol':13s} {'seconds':>8s} {'MSE':>8s} {'RMSE':>8s}")
    for d, n, pr, t, mse in rows: print(f"{d:14s} {n:11s} {pr:13s} {t:8.1f} {mse:8.4f} {mse**0.5:8.4f}")
    mean = lambda n, pr: sum(r[4]**0.5 for r in rows if r[0] in folds and r[1]==n and r[2]==pr) / len(folds)
    for n, pr in ([('dot-bias', 'train-only')] + [(n, pr) for n in models for pr in protocols]) if folds else []:
        print(f"{'mean ' + ','.join(folds):14s} {n:11s} {pr:13s} {'':8s} {'':8s} {mean(n, pr):8.4f}")
    split = {r[1]: r for r in rows if r[0] == 'seeded 80/20'}
    for n in models:
        u1 = {r[2]: r[4]**0.5 for r in rows if r[0] == 'u1' and r[1] == n}
        print(f"split mse {split[n][4]:.4f} ({n}) vs {split['dot-bias'][4]:.4f} (dot-bias), {split[n][3]/split['dot-bias'][3]:.1f}x the seconds"
              + (f"; folds rmse {mean(n, 'train-only'):.4f} ({n}, train-only) vs {mean('dot-bias', 'train-only'):.4f} (dot-bias)" if folds else '')
              + ''.join(f"; u1 {v:.4f} ({k})" for k, v in u1.items()))

if __name__ == '__main__': main()
