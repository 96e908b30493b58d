"""collab_nb.distributed: `collab-nb train --nproc 2` trains through the one trainer and saves an ordinary model folder.
(The lesson 10_scale checks that two processes reach one process's validation MSE; torchrun starts once here.)"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from collab_nb.cli import run


def test_nproc_options_checked():
    for args, msg in [(['--nproc', '0'], '--nproc'), (['--nproc', '2', '--fold', 'u1'], 'cannot be combined')]:
        rc, out, err = run(['train', *args])
        assert rc == 2 and msg in err, err

@pytest.mark.slow
def test_cli_nproc_then_evaluate(tmp_path):
    "`collab-nb train --nproc 2 --out DIR` saves a model that `collab-nb evaluate` scores on the same held-out rows"
    exe = shutil.which('collab-nb') or str(Path(sys.executable).with_name('collab-nb'))
    out = tmp_path/'m'
    r = subprocess.run([exe, 'train', '--data', 'ml-100k', '--nproc', '2', '--epochs', '3', '--out', str(out), '--json'],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    tr = json.loads(r.stdout)
    assert tr['nproc'] == 2 and tr['n_test'] == 20_000 and tr['epochs'] == 3 and tr['wd'] == 0.12  # the one registry's defaults
    r = subprocess.run([exe, 'evaluate', '--model', str(out), '--json'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert abs(ev['rmse'] - tr['test_rmse']) < 1e-4
