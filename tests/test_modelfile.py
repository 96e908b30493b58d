"Model folders: a save interrupted at any moment leaves a loadable model; damaged or hostile folders give one clean error, cheaply."
import errno
import json
import os
import random
import shutil
import signal
import time
import tracemalloc

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import collab_nb.modelfile as mf
from collab_nb.data import synth_ratings
from collab_nb.modelfile import load_model, model_bytes, save_model
from collab_nb.train import train_model


@pytest.fixture(scope='module')
def trained():
    df = synth_ratings(n_users=80, n_items=60, n_factors=4, seed=1)[0]
    m, vocab, dls, hp = train_model(df, 'dot-bias', epochs=1, seed=0)
    return m, vocab, dls, dict(model='dot-bias', **hp)

@pytest.fixture
def saved(trained, tmp_path):
    m, vocab, dls, cfg = trained
    path = save_model(tmp_path/'m', m, vocab, cfg, {i: f'Item {i}' for i in vocab.items}, dls.train.dataset.x)
    load_model(path)  # torch imports sympy on its first meta-device build: do it here, so the peaks below measure the loader only
    return path

def test_kill_9_during_saves_never_leaves_a_broken_folder(tmp_path):
    "20 saves over an existing model, each killed (SIGKILL) at a random moment: the folder always loads, old or new"
    from collab_nb.data import CollabVocab
    from collab_nb.registry import get_model
    vocab, path = CollabVocab(range(1, 3000), range(1, 1500)), tmp_path/'m'
    m = get_model('dot-bias', vocab.n_users, vocab.n_items, 64)
    save_model(path, m, vocab, dict(model='dot-bias', n_factors=64, seed=0))
    rng, seeds = random.Random(0), set()
    for trial in range(1, 21):
        pid = os.fork()
        if pid == 0:  # the child saves over the model until it is killed
            try:
                while True: save_model(path, m, vocab, dict(model='dot-bias', n_factors=64, seed=trial))
            finally: os._exit(1)
        time.sleep(rng.uniform(0.005, 0.08))
        os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
        seeds.add(load_model(path)[2]['seed'])
    assert len(seeds) > 5, f"kills landed before saves finished: the loop tested little ({seeds})"

def test_full_disk_keeps_the_old_model(trained, saved, monkeypatch):
    m, vocab, dls, cfg = trained
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    real = mf._write_folder
    def full(d, files):
        real(d, dict(list(files.items())[:1]))
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(mf, '_write_folder', full)
    with pytest.raises(OSError, match='No space left on device.*unchanged'): save_model(saved, m, vocab, dict(cfg, seed=99))
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before
    assert not [p for p in saved.parent.iterdir() if p.name.startswith('.')], "a temporary folder was left behind"
    load_model(saved)

def test_save_without_seen_leaves_no_stale_seen(trained, saved):
    m, vocab, dls, cfg = trained
    save_model(saved, m, vocab, cfg)
    assert not (saved/'seen.safetensors').exists()
    assert load_model(saved)[1].seen is None

def _edit_cfg(d, **kw): (d/'config.json').write_text(json.dumps({**json.loads((d/'config.json').read_text()), **kw}))

def _resign(d, name, data:bytes):
    "Replace file `name` and update its checksum, as a careful attacker would"
    (d/name).write_bytes(data)
    cfg = json.loads((d/'config.json').read_text()); cfg['sha256'][name] = mf._sha(data)
    (d/'config.json').write_text(json.dumps(cfg))

CASES = {  # name: (edit of a saved folder, words the error must contain)
    'n_factors float':    (lambda d: _edit_cfg(d, n_factors=4.5), 'n_factors'),
    'n_factors null':     (lambda d: _edit_cfg(d, n_factors=None), 'n_factors'),
    'n_users negative':   (lambda d: _edit_cfg(d, n_users=-3), 'n_users'),
    'n_users 5 million':  (lambda d: _edit_cfg(d, n_users=5_000_000), 'does not fit'),
    'n_users 1e9':        (lambda d: _edit_cfg(d, n_users=10**9), 'n_users'),
    'model a list':       (lambda d: _edit_cfg(d, model=['dot']), 'model'),
    'model unknown':      (lambda d: _edit_cfg(d, model='svd'), 'model'),
    'y_range a string':   (lambda d: _edit_cfg(d, y_range='0,5'), 'y_range'),
    'y_range reversed':   (lambda d: _edit_cfg(d, y_range=[5, 0]), 'y_range'),
    'format other':       (lambda d: _edit_cfg(d, format='other/1'), 'format'),
    'checksums null':     (lambda d: _edit_cfg(d, sha256=None), 'sha256'),
    'weights sha null':   (lambda d: _edit_cfg(d, sha256={'model.safetensors': None, 'vocab.json': 'x'}), 'sha256'),
    'model_kw a list':    (lambda d: _edit_cfg(d, model_kw=[1]), 'model_kw'),
    'deep JSON':          (lambda d: (d/'config.json').write_text('['*100_000 + ']'*100_000), 'JSON'),
    'config not object':  (lambda d: (d/'config.json').write_text('[1, 2]'), 'object'),
    'config missing':     (lambda d: (d/'config.json').unlink(), 'missing'),
    'weights truncated':  (lambda d: (d/'model.safetensors').write_bytes((d/'model.safetensors').read_bytes()[:100]), 'safetensors'),
    'weights bit flip':   (lambda d: (d/'model.safetensors').write_bytes((d/'model.safetensors').read_bytes()[:-1] + b'\x01'), 'checksum'),
    'weights a pickle':   (lambda d: torch.save({'a': torch.ones(2)}, d/'model.safetensors'), 'pickle'),
    'weights wrong shape': (lambda d: _resign(d, 'model.safetensors', st_save({'user_factors.weight': torch.zeros(3, 3)})), 'does not fit'),
    'weights wrong dtype': (lambda d: _resign(d, 'model.safetensors', st_save({k: v.double() for k,v in st_load((d/'model.safetensors').read_bytes()).items()})), 'does not fit'),
    'vocab edited':       (lambda d: (d/'vocab.json').write_text((d/'vocab.json').read_text().replace('Item', 'Itam')), 'checksum'),
    'vocab wrong size':   (lambda d: _resign(d, 'vocab.json', json.dumps(dict(user_name='user', item_name='movie', users=[1], items=[2])).encode()), 'users'),
    'titles null list':   (lambda d: _resign(d, 'vocab.json', json.dumps({**json.loads((d/'vocab.json').read_text()), 'titles': [None]}).encode()), 'titles'),
    'seen 1-D':           (lambda d: _resign(d, 'seen.safetensors', st_save({'x': torch.zeros(5, dtype=torch.int32)})), 'seen'),
    'seen out of range':  (lambda d: _resign(d, 'seen.safetensors', st_save({'x': torch.tensor([[10**6, 1]], dtype=torch.int32)})), 'outside'),
    'seen unlisted':      (lambda d: (_edit_cfg(d, sha256={k: v for k,v in json.loads((d/'config.json').read_text())['sha256'].items() if k != 'seen.safetensors'})), 'not listed'),
    'folder missing':     (lambda d: shutil.rmtree(d), 'not found'),
}

@pytest.mark.parametrize('case', list(CASES))
def test_damaged_folders_give_one_clean_error(saved, case):
    edit, words = CASES[case]
    edit(saved)
    tracemalloc.start()
    with pytest.raises((ValueError, FileNotFoundError)) as e: load_model(saved)
    peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    msg = str(e.value)
    assert words in msg and '\n' not in msg, msg
    assert peak < 50 * 2**20, f"{case}: {peak/2**20:.0f} MiB allocated before refusing a {sum(p.stat().st_size for p in saved.glob('*')) if saved.exists() else 0} byte folder"

def test_titles_lose_terminal_escapes(trained, tmp_path):
    m, vocab, dls, cfg = trained
    d = save_model(tmp_path/'m', m, vocab, cfg, {i: f'\x1b[31mEvil\x1b[0m {i}' for i in vocab.items})
    assert all('\x1b' not in t for t in load_model(d)[1].titles.values())

def test_files_checksummed_in_config(trained):
    m, vocab, dls, cfg = trained
    files = model_bytes(m, vocab, cfg, None, dls.train.dataset.x)
    sha = json.loads(files['config.json'])['sha256']
    assert set(sha) == {'model.safetensors', 'vocab.json', 'seen.safetensors'}
