"""Benchmark: lean loading and training at MovieLens-25M size, and 1 vs 2 data-parallel processes (gloo, CPU).

1. Writes a synthetic MovieLens-25M-shaped `ratings.csv` (25,000,095 rows by default) to a temporary folder
   (deleted at the end unless --keep).
2. Peak memory of loading it with `read_ratings_lean`, and of `pd.read_csv` for reference, each in a fresh process,
   as extra resident memory beyond the imports, divided by `raw_nbytes` (4 columns x 8 bytes a row).
3. One training process on it (dot-bias, 50 factors, big batches): ratings/s per epoch and peak memory of the
   whole run (loading + shuffle + split + training), valid MSE.
4. 1 vs 2 processes (torchrun, gloo) on a mid-size synthetic set and on ml-100k: ratings/s, wall time, valid MSE.

    python benchmarks/bench_scale.py [--n-ratings 25000095] [--mid-ratings 2000000] [--epochs 1] [--bs 65536]
                                     [--threads 2] [--skip-big] [--keep] [--tmp /tmp]

Targets (issue 8): >= 2M ratings/s per epoch single-process for dot-bias on 2 cores; peak memory <= 2x raw;
2-process valid MSE on ml-100k within 0.01 of 1 process.
"""
import argparse, os, shutil, tempfile, time, warnings
from pathlib import Path

def _row(rows, what, **kw): rows.append(dict(what=what, **kw)); print('  done:', what, kw, flush=True)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n-ratings', type=int, default=25_000_095, help='rows of the big synthetic file')
    p.add_argument('--mid-ratings', type=int, default=2_000_000, help='rows of the mid-size file for 1 vs 2 processes')
    p.add_argument('--epochs', type=int, default=2, help='epochs on the big file')
    p.add_argument('--bs', type=int, default=131072, help='batch size on the big and mid files')
    p.add_argument('--lr', type=float, default=3e-2, help='peak learning rate on the big and mid files')
    p.add_argument('--threads', type=int, default=2, help='torch threads of the single big-file process')
    p.add_argument('--skip-big', action='store_true', help='skip the 25M part')
    p.add_argument('--keep', action='store_true', help='keep the generated files')
    p.add_argument('--tmp', default=tempfile.gettempdir(), help='where to write the files')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    import pandas as pd, torch
    from collab_nb.distributed import write_synth_ratings, peak_memory, raw_nbytes, train_distributed, ML25M_SHAPE
    work = Path(tempfile.mkdtemp(prefix='bench_scale_', dir=a.tmp))
    rows = []
    try:
        if not a.skip_big:
            n = a.n_ratings
            shape = dict(n_users=ML25M_SHAPE['n_users'], n_items=ML25M_SHAPE['n_items'])
            if n != ML25M_SHAPE['n_ratings']:  # keep the density of ML-25M
                f = n/ML25M_SHAPE['n_ratings']
                shape = dict(n_users=max(100, int(shape['n_users']*f)), n_items=max(100, int(shape['n_items']*f**0.5)))
            t = time.perf_counter()
            big = write_synth_ratings(work/'ratings.csv', n_ratings=n, **shape, seed=0)
            gen_s = time.perf_counter()-t
            raw_mb = raw_nbytes(n)/2**20
            _row(rows, f'write synthetic {n:,} rows', seconds=round(gen_s, 1), file_mb=round(big.stat().st_size/2**20))
            pm = peak_memory('collab_nb.distributed:read_ratings_lean', str(big))
            _row(rows, 'load: read_ratings_lean', seconds=round(pm['seconds'], 1), peak_extra_mb=round(pm['extra_mb']),
                 x_raw=round(pm['extra_mb']/raw_mb, 2))
            pm = peak_memory('pandas:read_csv', str(big))
            _row(rows, 'load: pd.read_csv (reference)', seconds=round(pm['seconds'], 1), peak_extra_mb=round(pm['extra_mb']),
                 x_raw=round(pm['extra_mb']/raw_mb, 2))
            pm = peak_memory('collab_nb.distributed:train_distributed', str(big), nproc=1, epochs=a.epochs, bs=a.bs, lr=a.lr,
                             wd=0.1, threads=a.threads, valid_pct=0.2, preload=('collab_nb.train',))
            r = pm['result']
            eps = [round(h['ratings_per_s']/1e6, 3) for h in r['history']]
            _row(rows, f"train 1 proc, {a.threads} threads, dot-bias (hand-written grads), bs {a.bs}, {a.epochs} ep (load+split+train)",
                 seconds=round(r['seconds'], 1), M_ratings_per_s_per_epoch=eps, valid_mse=round(r['valid_mse'], 4),
                 peak_extra_mb=round(pm['extra_mb']), x_raw=round(pm['extra_mb']/raw_mb, 2))
            big.unlink()
        mid = write_synth_ratings(work/'mid.csv', n_ratings=a.mid_ratings, n_users=max(100, a.mid_ratings//150),
                                  n_items=max(100, a.mid_ratings//800), seed=1)
        for nproc, fast in ((1, True), (1, False), (2, False)):
            t = time.perf_counter()
            r = train_distributed(str(mid), nproc=nproc, epochs=2, bs=a.bs//8, lr=a.lr, wd=0.1, threads=1, fast_grad=fast)
            grads = 'hand-written grads' if fast else 'autograd'
            _row(rows, f"mid {a.mid_ratings:,}: {nproc} proc x 1 thread, {grads}, bs {a.bs//8}, 2 ep", seconds=round(time.perf_counter()-t, 1),
                 M_ratings_per_s_per_epoch=[round(h['ratings_per_s']/1e6, 3) for h in r['history']],
                 valid_mse=round(r['valid_mse'], 4))
        res = {}
        for nproc in (1, 2):
            t = time.perf_counter()
            res[nproc] = r = train_distributed('ml-100k', nproc=nproc, threads=1, fast_grad=False)
            _row(rows, f"ml-100k: {nproc} proc x 1 thread, autograd, bs 1024, 5 ep", seconds=round(time.perf_counter()-t, 1),
                 M_ratings_per_s_per_epoch=[round(h['ratings_per_s']/1e6, 3) for h in r['history']],
                 valid_mse=round(r['valid_mse'], 4))
    finally:
        if not a.keep: shutil.rmtree(work, ignore_errors=True)
    pd.set_option('display.width', 250); pd.set_option('display.max_colwidth', 80)
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end\n")
    print(pd.DataFrame(rows).set_index('what').fillna('').to_string())
    d = abs(res[2]['valid_mse'] - res[1]['valid_mse'])
    print(f"\nml-100k valid MSE 1 proc {res[1]['valid_mse']:.4f}, 2 procs {res[2]['valid_mse']:.4f}, |diff| {d:.2e} (target < 0.01)")

if __name__ == '__main__': main()
