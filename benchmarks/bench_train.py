"""Benchmark: fastai's stock `collab_learner` recipe vs collab_nb's fast `fit_model`, in one process, same split.

Reference (COURSE.md §6): ml-100k, 20% split with seed 42, `CollabDataLoaders` (bs 64), `collab_learner`
(50 factors, y_range (0, 5.5)), `fit_one_cycle(5, 5e-3, wd=0.1)`. Fast path: the *same model class*
(fastai's `EmbeddingDotBias`, via `get_model('fastai')`) on `RatingsDataLoaders` with `FAST_RECIPE`, then the
course's `DotProductBias` with `DEFAULTS['dot-bias']`, then the official u1-u5 folds with those defaults.
Short runs are repeated and the median time is reported. Both sides run with the same number of torch threads.

    python benchmarks/bench_train.py [--threads 1] [--reps 5] [--ref-reps 1] [--no-folds]

Last line: `speedup Nx, mse A vs B` (A = fast path with the reference model, B = fastai reference).
"""
import argparse
import os
import statistics
import time
import warnings

import numpy as np
import torch


def _ref(ratings, seed):
    "The stock fastai recipe; returns (fit seconds, valid MSE)"
    from fastai.callback.progress import ProgressCallback
    from fastai.collab import CollabDataLoaders, collab_learner
    from fastcore.basics import noop
    dls = CollabDataLoaders.from_df(ratings, user_name='user', item_name='movie', rating_name='rating',
                                    valid_pct=0.2, seed=42, bs=64)
    torch.manual_seed(seed)
    learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))
    learn.remove_cb(ProgressCallback); learn.logger = noop
    t = time.perf_counter(); learn.fit_one_cycle(5, 5e-3, wd=0.1); t = time.perf_counter()-t
    return t, float(learn.recorder.values[-1][1])

def _fast(dls, name, cfg, seed):
    "collab_nb's `fit_model`; returns (fit seconds, valid MSE)"
    from collab_nb.registry import get_model
    from collab_nb.train import fit_model
    torch.manual_seed(seed)
    model = get_model(name, dls.vocab.n_users, dls.vocab.n_items, cfg['n_factors'])
    t = time.perf_counter()
    learn = fit_model(model, dls, epochs=cfg['epochs'], lr=cfg['lr'], wd=cfg['wd'], n_threads=None)
    return time.perf_counter()-t, float(learn.recorder.values[-1][1])

def _median(runs):
    ts, ms = zip(*runs)
    return statistics.median(ts), statistics.median(ms)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=1, help='torch threads for both sides (default 1)')
    p.add_argument('--reps', type=int, default=5, help='repeats of each fast run (median reported)')
    p.add_argument('--ref-reps', type=int, default=1, help='repeats of the slow reference run')
    p.add_argument('--no-folds', action='store_true', help='skip the u1-u5 folds')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(a.threads)
    from collab_nb.data import RatingsDataLoaders, load_movielens, movielens_fold
    from collab_nb.registry import DEFAULTS
    from collab_nb.train import FAST_RECIPE
    ratings = load_movielens('ml-100k')
    rows = []
    def add(name, runs, n=None):
        t, mse = _median(runs)
        rows.append((name, t, mse, len(runs)))
        print(f"  done: {name}: {t:.2f}s, valid MSE {mse:.4f}", flush=True)
        return t, mse

    fast_dls = RatingsDataLoaders.from_df(ratings, seed=42, bs=FAST_RECIPE['bs'])
    t_fast, mse_fast = add(f"fit_model fastai EmbeddingDotBias, FAST_RECIPE (bs {FAST_RECIPE['bs']}, {FAST_RECIPE['epochs']} ep)",
                           [_fast(fast_dls, 'fastai', FAST_RECIPE, s) for s in range(a.reps)])
    d = DEFAULTS['dot-bias']
    def_dls = RatingsDataLoaders.from_df(ratings, seed=42, bs=d['bs'])
    add(f"fit_model dot-bias, DEFAULTS (bs {d['bs']}, {d['epochs']} ep)", [_fast(def_dls, 'dot-bias', d, s) for s in range(a.reps)])
    t_ref, mse_ref = add('fastai collab_learner reference (bs 64, 5 ep)', [_ref(ratings, s) for s in range(a.ref_reps)])

    print(f"\n{'run':62} {'seconds':>8} {'valid MSE':>10} {'RMSE':>7} {'reps':>5}")
    for name, t, mse, n in rows: print(f"{name:62} {t:8.2f} {mse:10.4f} {np.sqrt(mse):7.4f} {n:5d}")

    if not a.no_folds:
        print(f"\nofficial folds, dot-bias with DEFAULTS {d}:")
        rmses = []
        for k in range(1, 6):
            trn, tst = movielens_fold(f'u{k}')
            dls = RatingsDataLoaders.from_df(trn, valid_df=tst, bs=d['bs'])
            t, mse = _fast(dls, 'dot-bias', d, 0)
            rmses.append(np.sqrt(mse)); print(f"  u{k}: RMSE {rmses[-1]:.4f} ({t:.2f}s)", flush=True)
        print(f"  mean RMSE {np.mean(rmses):.4f}")
    print(f"\nspeedup {t_ref/t_fast:.1f}x, mse {mse_fast:.4f} vs {mse_ref:.4f}")

if __name__ == '__main__':
    from pathlib import Path
    _shared = Path(__file__).resolve().parents[2]/'shared'/'data'  # this project's local copy, if present
    if 'COLLAB_NB_DATA' not in os.environ and _shared.is_dir(): os.environ['COLLAB_NB_DATA'] = str(_shared)
    main()
