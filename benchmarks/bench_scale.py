"""Benchmark: lean loading at MovieLens-25M size, and 1 vs 2 data-parallel processes (gloo, CPU), in one run.

1. Writes a synthetic MovieLens-25M-shaped `ratings.csv` (25,000,095 rows by default) to a temporary folder
   (deleted at the end unless --keep).
2. Peak memory of loading it with `read_ratings_lean`, and of `pd.read_csv` for reference, each in a fresh process
   (`peak_memory.py`), as extra resident memory beyond the imports, divided by `raw_nbytes` (4 columns x 8 bytes a row).
3. Training through the one trainer (`train_model`, one process, one thread) against `train_distributed` with 2
   processes, on ml-100k and on a mid-size synthetic file: seconds, ratings/s and valid MSE side by side.

    python benchmarks/bench_scale.py [--n-ratings 25000095] [--mid-ratings 1000000] [--skip-big] [--keep] [--tmp /tmp]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from peak_memory import peak_memory


def _row(rows, what, **kw): rows.append(dict(what=what, **kw)); print('  done:', what, kw, flush=True)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n-ratings', type=int, default=25_000_095, help='rows of the big synthetic file')
    p.add_argument('--mid-ratings', type=int, default=1_000_000, help='rows of the mid-size file for 1 vs 2 processes')
    p.add_argument('--skip-big', action='store_true', help='skip the 25M loading part')
    p.add_argument('--keep', action='store_true', help='keep the generated files')
    p.add_argument('--tmp', default=tempfile.gettempdir(), help='where to write the files')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    import pandas as pd
    import torch

    from collab_nb.data import get_ratings
    from collab_nb.distributed import train_distributed
    from collab_nb.lean import ML25M_SHAPE, raw_nbytes, write_synth_ratings
    from collab_nb.metrics import valid_report
    from collab_nb.train import train_model
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix='bench_scale_', dir=a.tmp))
    rows, res = [], {}
    try:
        if not a.skip_big:
            n = a.n_ratings
            f = n/ML25M_SHAPE['n_ratings']
            shape = dict(n_users=max(100, int(ML25M_SHAPE['n_users']*f)), n_items=max(100, int(ML25M_SHAPE['n_items']*f**0.5)))
            t = time.perf_counter()
            big = write_synth_ratings(work/'ratings.csv', n_ratings=n, **shape, seed=0)
            _row(rows, f'write synthetic {n:,} rows', seconds=round(time.perf_counter()-t, 1), file_mb=round(big.stat().st_size/2**20))
            raw_mb = raw_nbytes(n)/2**20
            for spec, what in (('collab_nb.lean:read_ratings_lean', 'load: read_ratings_lean'), ('pandas:read_csv', 'load: pd.read_csv (reference)')):
                pm = peak_memory(spec, str(big))
                _row(rows, what, seconds=round(pm['seconds'], 1), peak_extra_mb=round(pm['extra_mb']), x_raw=round(pm['extra_mb']/raw_mb, 2))
            big.unlink()
        mid = write_synth_ratings(work/'mid.csv', n_ratings=a.mid_ratings, n_users=max(100, a.mid_ratings//150),
                                  n_items=max(100, a.mid_ratings//800), seed=1)
        for data, hp in (('ml-100k', {}), (str(mid), dict(bs=8192, lr=2e-2))):
            name = 'ml-100k' if data == 'ml-100k' else f'synthetic {a.mid_ratings:,}'
            df, t = get_ratings(data), time.perf_counter()
            m, vocab, dls, used = train_model(df, 'dot-bias', seed=42, **hp)
            one = dict(test_mse=valid_report(m, vocab, dls)['valid_mse'], seconds=time.perf_counter()-t)  # on the held-out part
            two = train_distributed(data, nproc=2, **hp)
            n = len(dls.train_df)*used['epochs']
            for k, r in ((1, one), (2, two)):
                _row(rows, f"{name}: dot-bias, {k} process{'es' if k > 1 else ''}", seconds=round(r['seconds'], 1),
                     M_ratings_per_s=round(n/r['seconds']/1e6, 2), test_mse=round(r['test_mse'], 4))
            res[name] = abs(two['test_mse'] - one['test_mse'])
    finally:
        if not a.keep: shutil.rmtree(work, ignore_errors=True)
    pd.set_option('display.width', 250); pd.set_option('display.max_colwidth', 80)
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end\n")
    print(pd.DataFrame(rows).set_index('what').fillna('').to_string())
    print('\n' + ', '.join(f"{k}: |valid MSE 2 procs - 1 proc| {v:.2e}" for k,v in res.items()))

if __name__ == '__main__': main()
