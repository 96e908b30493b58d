"Fuzzing with seeded random junk: config fields, CLI options and CSV files. Nothing may end in a traceback."
import json
import random
import tracemalloc
from pathlib import Path

import pytest
import torch

from collab_nb.cli import main, run
from collab_nb.data import synth_ratings
from collab_nb.modelfile import load_model, save_model
from collab_nb.train import train_model

JUNK = [None, True, -1, 0, 1, 2.5, -0.0, 1e308, -1e308, 10**12, 2**63, 10**40, '', 'x', '0', '1e9', 'nan', [], [1],
        [0, 5], [5, 0], [[1]], {}, {'a': 1}, '\x1b[31m', 'ü' * 50, [None, None], ['a', 'b'], [1e308, -1e308]]

@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    df = synth_ratings(n_users=40, n_items=30, n_factors=3, seed=2)[0]
    m, vocab, dls, hp = train_model(df, 'dot-bias', epochs=1, seed=0)
    return save_model(tmp_path_factory.mktemp('fz')/'m', m, vocab, dict(model='dot-bias', **hp),
                      {i: f'Item {i}' for i in vocab.items}, dls.train.dataset.x)

def _one_line(msg:str)->bool: return bool(msg) and '\n' not in msg.strip() and 'Traceback' not in msg

def test_config_fields_fuzzed(folder, tmp_path):
    "300 seeded edits of 1-3 config fields (junk values, sometimes nested): `load_model` loads, or refuses in one line, cheaply"
    cfg0, rng, refused = json.loads((folder/'config.json').read_text()), random.Random(0), 0
    fields = sorted(set(cfg0) | {'model_kw', 'data', 'extra'})
    load_model(folder)  # the first load imports torch's model-building modules: not a cost of any folder
    for trial in range(300):
        cfg = json.loads(json.dumps(cfg0))
        for _ in range(rng.randint(1, 3)):
            k, v = rng.choice(fields), rng.choice(JUNK)
            if isinstance(cfg.get(k), dict) and cfg[k] and rng.random() < 0.5: cfg[k][rng.choice(sorted(cfg[k]))] = v  # inside a nested field
            else: cfg[k] = v
        (folder/'config.json').write_text(json.dumps(cfg))
        tracemalloc.start()
        try:
            m, vocab, c = load_model(folder)[:3]
            assert torch.isfinite(m(torch.tensor([[0, 0]]))).all(), (trial, cfg)
        except (ValueError, FileNotFoundError) as e:
            refused += 1
            assert _one_line(str(e)), (trial, cfg, str(e))
        finally:
            peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
        assert peak < 50 * 2**20, (trial, cfg, peak)
    (folder/'config.json').write_text(json.dumps(cfg0))
    load_model(folder)
    assert refused > 150, f"only {refused} of 300 junk configs refused: the fuzzer edits too little"

OPT_JUNK = ['0', '-1', 'nan', 'inf', '-inf', '1e400', 'abc', '', '0x10', '1e9', '99999999999999999999', '1.5', '-0', ' 3']

@pytest.fixture(scope='module')
def tiny_csv(tmp_path_factory):
    df = synth_ratings(n_users=30, n_items=20, n_factors=3, seed=3)[0]
    p = tmp_path_factory.mktemp('csv')/'r.csv'; df.to_csv(p, index=False)
    return p

def _ok(rc:int, out:str, err:str, args)->bool:
    "Exit 0 with clean output, or exit 2 with one `error:` line"
    if rc == 2: return err.startswith('error: ') and _one_line(err)
    return rc == 0 and not err and ('--json' not in args or json.loads(out) is not None)

@pytest.mark.parametrize('opt', ['--epochs', '--lr', '--wd', '--bs', '--n-factors', '--valid-pct', '--seed', pytest.param('--nproc', marks=pytest.mark.slow)])
def test_train_options_fuzzed(opt, tiny_csv, tmp_path):
    for v in OPT_JUNK:
        args = ['train', '--data', str(tiny_csv), '--epochs', '1', '--ranker', 'none', '--out', str(tmp_path/'m'), '--force', '--json', opt, v]
        rc, out, err = run(args)
        assert _ok(rc, out, err, args), (opt, v, rc, err)
        if rc == 0: assert 'NaN' not in out and 'Infinity' not in out, (opt, v, out)

@pytest.mark.parametrize('cmd', [['evaluate', '--data', '{csv}', '--k'], ['recommend', '--user', '{user}', '-n'],
                                 ['recommend', '--user', '{user}', '--min-ratings'], ['recommend', '--rate', '{item}=4', '-n']])
def test_model_options_fuzzed(cmd, folder, tiny_csv):
    vocab = load_model(folder)[1]
    for v in OPT_JUNK:
        args = [a.format(csv=tiny_csv, user=vocab.users[1], item=vocab.items[1]) for a in cmd[:1] + ['--model', str(folder)] + cmd[1:]] + [v, '--json']
        rc, out, err = run(args)
        assert _ok(rc, out, err, args), (args, rc, err)

@pytest.mark.parametrize('opt', ['--timeout', '--n-jobs', '--cell-timeout', '--mem-mb'])
def test_grade_options_fuzzed(opt, tmp_path):
    (tmp_path/'subs').mkdir()
    for v in OPT_JUNK:
        args = ['grade', str(tmp_path/'subs'), '--out', str(tmp_path/'g.csv'), '--json', opt, v]
        rc, out, err = run(args)
        assert _ok(rc, out, err, args), (args, rc, err)

CSVS = {  # name: bytes of a ratings file
    'empty': b'', 'header only': b'user,movie,rating\n', 'one row': b'user,movie,rating\n1,2,4\n',
    'binary': bytes(range(256)) * 20, 'no rating column': b'user,movie\n1,2\n3,4\n',
    'text ratings': b'user,movie,rating\n1,2,good\n3,4,bad\n', 'nan ratings': b'user,movie,rating\n1,2,nan\n3,4,5\n2,2,3\n',
    'inf ratings': b'user,movie,rating\n1,2,inf\n3,4,5\n2,2,3\n', 'all the same': b'user,movie,rating\n' + b''.join(b'%d,%d,3\n' % (u, i) for u in range(1, 9) for i in range(1, 9)),
    'negative': b'user,movie,rating\n' + b''.join(b'%d,%d,-%d\n' % (u, i, (u*i) % 5 + 1) for u in range(1, 9) for i in range(1, 9)),
    'huge ratings': b'user,movie,rating\n1,2,1e308\n3,4,-1e308\n2,2,3\n', 'ragged': b'user,movie,rating\n1,2\n3,4,5,6,7\n',
    'latin-1 titles': b'user,movie,rating,title\n1,2,4,Am\xe9lie\n2,3,5,Caf\xe9\n', 'only commas': b',,,\n,,,\n',
    'long ids': b'user,movie,rating\n' + b''.join(b'%s,%d,4\n' % (b'u' * 5000, i) for i in range(20)),
    'deep quotes': b'user,movie,rating\n"' + b'"' * 10000 + b'\n', 'many columns': b','.join(b'c%d' % i for i in range(5000)) + b'\n',
    'tab separated': b'user\tmovie\trating\n1\t2\t4\n2\t3\t5\n3\t2\t1\n',
}

@pytest.mark.parametrize('name', list(CSVS))
def test_junk_csvs(name, tmp_path):
    p = tmp_path/'r.csv'; p.write_bytes(CSVS[name])
    for args in (['data', '--data', str(p), '--json'], ['train', '--data', str(p), '--epochs', '1', '--ranker', 'none', '--json', '--out', str(tmp_path/'m')]):
        rc, out, err = run(args)
        assert _ok(rc, out, err, args), (name, args, rc, err)
        if rc == 0: assert 'NaN' not in out and 'Infinity' not in out, (name, out)

@pytest.mark.slow
def test_ctrl_c_exits_130_with_one_line():
    "SIGINT in the middle of training (a real process, the signal sent once the CLI is running): exit 130 and one line"
    import subprocess
    import sys
    code = ("import os, signal, sys, threading; from collab_nb.cli import main; "
            "threading.Timer(3, os.kill, (os.getpid(), signal.SIGINT)).start(); "
            "sys.exit(main(['train', '--data', 'synthetic', '--epochs', '10000', '--json']))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (130, '', 'error: interrupted\n'), (r.returncode, r.stderr[-500:])

def test_unexpected_error_one_line_and_saved_traceback(monkeypatch, capsys):
    import re

    import collab_nb.cli as cli
    def bug(df): return 'a bug'.split()[9]
    monkeypatch.setattr(cli, 'ratings_summary', bug)
    rc = main(['data', '--data', 'synthetic'])
    out, err = capsys.readouterr()
    assert rc == 1 and out == '' and _one_line(err) and err.startswith('error: unexpected IndexError'), err
    saved = Path(re.search(r'traceback saved to (\S+)\)', err).group(1))
    assert 'Traceback' in saved.read_text() and 'IndexError' in saved.read_text()
    saved.unlink()
