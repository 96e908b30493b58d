"""Benchmark: top-10 lists of every collab_nb model against a most-popular list and the closed-form EASE baseline.

Protocol (issue 12): split the ratings 80/20 at random with seed 42 (`random_split`); for each user, the relevant
items are their held-out ratings >= 4; rank every item the user did not rate in training; precision, recall, NDCG
and MAP at 10 averaged over users with a relevant item; coverage = share of the catalogue shown to anyone.
Everything runs in one process with one torch thread. Rows: the most-popular list, EASE (closed form), the rating
model with the CLI defaults, each registered ranking model with its DEFAULTS, Mult-DAE x rating model ("watch x
like"), and what `collab-nb recommend --all-users` gives for a model trained by the README's main command
(`collab-nb train --out DIR`), scored from its JSON lists. The table is printed for ml-100k, then ml-latest-small.

    python benchmarks/bench_rank.py [--threads 1] [--data ml-100k,ml-latest-small]

Last line: `ndcg@10 best A (model) vs baseline B` (A = best trained model on ml-100k, B = EASE on ml-100k).
"""
import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

RANKERS = ('bce', 'bpr', 'softmax', 'dae')

def _metrics(lists:dict, tst, trn, n_items:int, k:int=10)->dict:
    "P, R, NDCG, MAP @k and coverage of `{user: [items]}` on the protocol, computed from the lists alone"
    from collab_nb.metrics import average_precision_at_k, ndcg_at_k, precision_at_k, recall_at_k
    rel = tst[tst.rating >= 4].groupby('user').movie.apply(set)
    rel = rel[rel.index.isin(trn.user.unique())]  # users the model knows
    rows = [(precision_at_k(lists[u], r, k), recall_at_k(lists[u], r, k), ndcg_at_k(lists[u], r, k), average_precision_at_k(lists[u], r, k))
            for u, r in rel.items()]
    p, r, n, m = np.mean(rows, 0)
    shown = {i for u in rel.index for i in lists[u][:k]}
    return dict(precision_at_10=p, recall_at_10=r, ndcg_at_10=n, map_at_10=m, coverage_at_10=len(shown)/n_items, n_users=len(rel))

def _cli_lists(data:str, trn)->tuple:
    "Seconds and `{user: [items]}` of `collab-nb train --data DATA --out DIR` then `recommend --all-users -n 10 --json`"
    from collab_nb.cli import run
    out = Path(tempfile.mkdtemp())/'model'
    t = time.perf_counter()
    rc, txt, err = run(['train', '--data', data, '--out', str(out), '--json'])
    assert rc == 0, err
    secs = time.perf_counter() - t
    rc, txt, err = run(['recommend', '--model', str(out), '--all-users', '-n', '10', '--json'])
    assert rc == 0, err
    lists = {type(trn.user.iloc[0])(u): [o['item'] for o in v] for u, v in json.loads(txt).items()}
    return secs, lists

def bench(data:str)->list:
    "Rows `(name, seconds, metrics)` on `data`"
    from collab_nb.data import CollabVocab, get_ratings, random_split
    from collab_nb.metrics import MostPopular, ranking_metrics
    from collab_nb.ranking import WatchLike
    from collab_nb.train import train_model
    df = get_ratings(data)
    trn, tst = random_split(df, 0.2, 42)
    rows = []
    def add(name, secs, model, vocab):
        r = ranking_metrics(model, vocab, tst, trn, k=10)
        rows.append((name, secs, r)); print(f"  {data}: {name}: {secs:.2f}s, ndcg@10 {r['ndcg_at_10']:.4f}", flush=True)
    def fit(name):
        t = time.perf_counter(); m, vocab, _, _ = train_model(trn, name, valid_pct=0.)
        return m, vocab, time.perf_counter() - t
    vocab = CollabVocab(trn.user, trn.movie)
    add('most popular', 0., MostPopular.from_df(trn, vocab), vocab)
    m, vocab, t = fit('ease'); add('EASE, closed form (baseline)', t, m, vocab)
    rater, vocab, t_rater = fit('dot-bias'); add('rating model (dot-bias)', t_rater, rater, vocab)
    for name in RANKERS:
        m, vocab, t = fit(name); add(f'{name}', t, m, vocab)
    t = time.perf_counter(); w, vocab, _, _ = train_model(trn, 'dae', valid_pct=0., target='watched'); t = time.perf_counter() - t
    add('dae on watched x rating model (watch x like, beta 1)', t + t_rater, WatchLike(w, rater, 1.), vocab)
    t, lists = _cli_lists(data, trn)
    r = _metrics(lists, tst, trn, vocab.n_items - 1)
    rows.append(('CLI: train --out, recommend --all-users', t, r)); print(f"  {data}: CLI lists: {t:.2f}s, ndcg@10 {r['ndcg_at_10']:.4f}", flush=True)
    return rows

def table(data:str, rows:list)->str:
    cols = ('precision_at_10', 'recall_at_10', 'ndcg_at_10', 'map_at_10', 'coverage_at_10')
    head = f"| {data} | seconds | P@10 | R@10 | NDCG@10 | MAP@10 | coverage |\n|---|---|---|---|---|---|---|"
    return '\n'.join([head] + [f"| {n} | {t:.2f} | " + ' | '.join(f"{r[c]:.3f}" for c in cols) + ' |' for n, t, r in rows])

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    p.add_argument('--data', default='ml-100k,ml-latest-small', help='comma-separated datasets, ml-100k first')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(a.threads)
    results = {d: bench(d) for d in a.data.split(',')}
    for d, rows in results.items(): print('\n' + table(d, rows))
    first = results[a.data.split(',')[0]]
    base = next(r['ndcg_at_10'] for n, _, r in first if n.startswith('EASE'))
    trained = [(r['ndcg_at_10'], n) for n, _, r in first if n.split()[0] in RANKERS]
    best, name = max(trained)
    print(f"\nndcg@10 best {best:.4f} ({name}) vs baseline {base:.4f}")

if __name__ == '__main__': main()
