"""The `collab-nb` command line: JSON output, exit 2 with one `error:` line on bad input, help that the registry writes.
Most cases run in-process (`cli.run`, `cli.main`); the console script itself is started once for each exit status."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from collab_nb.cli import flag, main, model_settings, run, settings_epilog
from collab_nb.registry import MODELS

EXE = shutil.which('collab-nb') or str(Path(sys.executable).with_name('collab-nb'))

def test_console_script_exit_status_and_stderr():
    "The installed script on bad input: status 2, one `error:` line, no traceback (status 0: `tests/test_package.py`)"
    r = subprocess.run([EXE, 'train', '--model', 'ease', '--wd', '300'], capture_output=True, text=True, timeout=300)
    assert (r.returncode, r.stdout) == (2, '') and r.stderr == "error: --wd is not a setting of 'ease' (its settings: lam)\n", r.stderr

def test_data_json():
    rc, out, err = run(['data', '--data', 'ml-100k', '--json'])
    d = json.loads(out)
    assert rc == 0 and (d['n_ratings'], d['n_users'], d['n_items'], d['rating_min'], d['rating_max']) == (100_000, 943, 1682, 1., 5.)
    assert abs(d['density'] - 100_000/(943*1682)) < 1e-5

def test_data_synthetic_human():
    rc, out, err = run(['data', '--data', 'synthetic'])
    assert rc == 0 and 'n_ratings: 36000' in out

@pytest.mark.parametrize('args,msg', [
    (['data', '--data', 'nope.csv'], 'error: ratings file not found: nope.csv'),
    (['data', '--data', 'ml-1b'], 'error: unknown data'),
    (['data', '--data', 'ml-100k', '--data-dir', '/no/such/dir'], 'error: ml-100k not found'),
    (['train', '--model', 'ease', '--hp', 'lam=abc'], "error: --hp lam 'abc': expected a finite number ≥ 0"),
    (['train', '--model', 'bpr', '--hp', 'n_neg=2.5'], "error: --hp n_neg 2.5: expected a whole number from 1"),
    (['train', '--model', 'dot', '--hp', 'lam=3'], "error: --hp lam is not a setting of 'dot'"),
    (['train', '--hp', 'epochs'], "error: --hp 'epochs': expected NAME=VALUE pairs"),
])
def test_bad_input_exit_2(args, msg, capsys):
    rc = main(args)
    out, err = capsys.readouterr()
    assert rc == 2 and not out and err.startswith(msg) and len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err

def test_bad_csv_exit_2(tmp_path):
    (tmp_path/'r.csv').write_text('user,movie,rating\n1,2,good\n')
    rc, out, err = run(['data', '--data', str(tmp_path/'r.csv')])
    assert rc == 2 and err == "error: column 'rating': 1 row are not numeric (e.g. 'good')"

def test_help_defaults_come_from_the_registry_and_are_accepted():
    "Every default `train --help` prints, the options' and each model's settings, is accepted when given back"
    rc, out, err = run(['train', '--help'])
    assert rc == 0 and 'MODEL_NAMES' not in out and "DEFAULTS" not in out
    flat = ' '.join(out.split())
    assert 'weight decay (default: 0.12; nn, softmax 0.1; bce, bpr, dae, ease-dae 0)' in flat and 'ease ' not in flat.split('--wd')[1].split('--bs')[0]
    lines = out[out.index('models and their settings'):].splitlines()[1:]
    assert [ln.split()[0] for ln in lines] == list(MODELS)
    for ln in lines:
        name, kvs = ln.split()[0], ln.split(': ', 1)[1].split()
        assert model_settings(name, ','.join(kvs)) == MODELS[name].defaults, name
    for opt in ('epochs', 'lr', 'wd', 'bs', 'n_factors'):   # the options: each model's default, as help shows it
        for name, spec in MODELS.items():
            if opt in spec.defaults: model_settings(name, **{opt: spec.defaults[opt]})
    assert settings_epilog().count('\n') == len(MODELS)

def test_library_errors_named_by_their_option():
    assert (flag('wd'), flag('valid_pct'), flag('rate'), flag('lam')) == ('--wd', '--valid-pct', '--rate', '--hp lam')

def test_ease_trains_with_its_own_lam(capsys):
    "`train --model ease --hp lam=300` (the default help shows) trains; the lam used is reported"
    assert main(['train', '--data', 'synthetic', '--model', 'ease', '--hp', 'lam=300', '--json']) == 0
    res = json.loads(capsys.readouterr().out)
    assert res['lam'] == 300. and 'wd' not in res and 0 < res['test_ndcg'] <= 1
