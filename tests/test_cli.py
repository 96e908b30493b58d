"The `collab-nb` console script: JSON output, exit 2 with one `error:` line on bad input."
import json, shutil, subprocess, sys
from pathlib import Path
import pytest

EXE = shutil.which('collab-nb') or str(Path(sys.executable).with_name('collab-nb'))

def run(*args):
    r = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout, r.stderr

def test_data_json():
    rc, out, err = run('data', '--data', 'ml-100k', '--json')
    assert rc == 0, err
    d = json.loads(out)
    assert (d['n_ratings'], d['n_users'], d['n_items'], d['rating_min'], d['rating_max']) == (100_000, 943, 1682, 1., 5.)
    assert abs(d['density'] - 100_000/(943*1682)) < 1e-5

def test_data_synthetic_human():
    rc, out, err = run('data', '--data', 'synthetic')
    assert rc == 0 and 'n_ratings: 36000' in out

@pytest.mark.parametrize('args,msg', [
    (['data', '--data', 'nope.csv'], 'error: ratings file not found: nope.csv'),
    (['data', '--data', 'ml-1b'], 'error: unknown data'),
    (['data', '--data', 'ml-100k', '--data-dir', '/no/such/dir'], 'error: ml-100k not found'),
])
def test_bad_input_exit_2(args, msg):
    rc, out, err = run(*args)
    assert rc == 2 and err.startswith(msg) and len(err.strip().splitlines()) == 1 and 'Traceback' not in err

def test_bad_csv_exit_2(tmp_path):
    (tmp_path/'r.csv').write_text('user,movie,rating\n1,2,good\n')
    rc, out, err = run('data', '--data', str(tmp_path/'r.csv'))
    assert rc == 2 and err.strip() == "error: column 'rating': 1 row are not numeric (e.g. 'good')"
