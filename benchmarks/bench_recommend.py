"""Benchmark: `recommend --all-users`, every known user's top-10 list, batched (`recommend_all`) against the anchor, the
per-user path it replaces (one forward over all items per user, then `topk`), side by side in one process.

Users per second and the extra peak resident memory of each path, on one torch thread, for
- ml-100k (943 users x 1,682 items), with its training ratings excluded and rare items (< 20 ratings) dropped;
- a synthetic 162,000 users x 59,000 items set (MovieLens-25M's shape), 100 random rated items per user excluded
  (the anchor runs on the first `--anchor-users` users only: at its speed all 162,000 would take too long).
Models: dot-bias (one matrix product per block), and on ml-100k also the batched fallbacks, Mult-DAE (its `logits`)
and CollabNN (its forward on every pair of a block). The models are freshly initialised: speed does not depend on
the weights. Peak memory is the kernel's high-water mark of resident memory, reset before each run
(/proc/self/clear_refs); the block size bounds the batched path's.

    python benchmarks/bench_recommend.py [--threads 1] [--anchor-users 300] [--no-large]
"""
import argparse
import time
import warnings

import torch


def _kb(key):
    for line in open('/proc/self/status'):
        if line.startswith(key): return int(line.split()[1])

def measure(f):
    "`(seconds, extra peak MiB)` of calling `f`"
    try:
        with open('/proc/self/clear_refs', 'w') as fh: fh.write('5')
    except OSError: pass
    base, t0 = _kb('VmRSS:'), time.perf_counter()
    f()
    return time.perf_counter() - t0, (_kb('VmHWM:') - base) / 1024

def anchor(model, vocab, users, n, seen, drop):
    "The per-user path: each user's scores through the model's forward, their rated and the dropped items masked, `topk`"
    from collab_nb.metrics import score_items
    by_user = {}
    for u, i in seen.tolist(): by_user.setdefault(u, []).append(i)
    res = []
    for u in users.tolist():
        s = score_items(model, torch.tensor([u]), vocab.n_items)[0]
        s[torch.tensor(by_user.get(u, []) + drop.tolist(), dtype=torch.long)] = -float('inf')
        res.append(s.topk(n).indices)
    return res

def batched(model, vocab, users, n, seen, drop):
    from collab_nb.recommend import recommend_all
    return [b for b in recommend_all(model, vocab, n, seen, drop, users)]

class _Vocab:
    "The two sizes `recommend_all` reads (a synthetic set needs no ids)"
    def __init__(self, n_users, n_items): self.n_users, self.n_items = n_users, n_items

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    p.add_argument('--anchor-users', type=int, default=300, help='users the anchor scores on the large set (default 300)')
    p.add_argument('--no-large', action='store_true', help='skip the 162,000 x 59,000 set')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(a.threads)
    from collab_nb.data import RatingsDataLoaders, load_movielens
    from collab_nb.recommend import rare_items
    from collab_nb.registry import get_model
    rows = []
    def add(data, model, path, users, secs, mb):
        rows.append((data, model, path, users, secs, mb))
        print(f"  done: {data} {model} {path}: {users:,} users in {secs:.3f}s ({users/secs:,.0f} users/s), peak +{mb:.0f} MiB", flush=True)

    dls = RatingsDataLoaders.from_df(load_movielens('ml-100k'), seed=42, bs=1024)
    v, seen = dls.vocab, dls.train.dataset.x
    drop, users = rare_items(seen, v.n_items, 20), torch.arange(1, v.n_users)
    for name in ('dot-bias', 'dae', 'nn'):
        torch.manual_seed(0)
        m = get_model(name, v.n_users, v.n_items).eval()
        if name == 'dae': m.set_history(seen)
        a_out, b_out = [], []
        add('ml-100k', name, 'per user (anchor)', len(users), *measure(lambda: a_out.append(anchor(m, v, users, 10, seen, drop))))
        add('ml-100k', name, 'batched', len(users), *measure(lambda: b_out.append(batched(m, v, users, 10, seen, drop))))
        same = torch.stack(a_out[0]).eq(torch.cat([b[1] for b in b_out[0]])).all(1).float().mean().item()
        print(f"  {name}: {same:.1%} of the lists identical to the anchor's (the rest differ by near-ties)")

    if not a.no_large:
        nu, ni, per = 162_000, 59_000, 100
        g = torch.Generator().manual_seed(0)
        big_seen = torch.stack([torch.arange(1, nu).repeat_interleave(per), torch.randint(1, ni, ((nu-1)*per,), generator=g)], 1)
        bv, none = _Vocab(nu, ni), torch.zeros(0, dtype=torch.long)
        torch.manual_seed(0)
        m = get_model('dot-bias', nu, ni).eval()
        few = torch.arange(1, a.anchor_users + 1)
        add('162k x 59k', 'dot-bias', 'per user (anchor)', len(few), *measure(lambda: anchor(m, bv, few, 10, big_seen[:len(few)*per], none)))
        add('162k x 59k', 'dot-bias', 'batched', nu-1, *measure(lambda: [None for _ in batched(m, bv, None, 10, big_seen, none)]))

    print(f"\n{'data':12s} {'model':9s} {'path':18s} {'users':>8s} {'seconds':>8s} {'users/s':>10s} {'peak MiB':>9s} {'speed-up':>9s}")
    anchors = {(d, mo): u/s for d, mo, pa, u, s, _ in rows if pa.startswith('per user')}
    for d, mo, pa, u, s, mb in rows:
        print(f"{d:12s} {mo:9s} {pa:18s} {u:8,d} {s:8.3f} {u/s:10,.0f} {mb:9.0f} {u/s/anchors[d, mo]:8.1f}x")

if __name__ == '__main__': main()
