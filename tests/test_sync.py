"Exporting the notebooks reproduces collab_nb/ exactly: nobody edited the library by hand."
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def _files(d:Path): return {p.relative_to(d): p.read_bytes() for p in d.rglob('*.py') if '__pycache__' not in p.parts}

def test_export_changes_nothing(tmp_path):
    for f in ('pyproject.toml', 'settings.ini'): shutil.copy(ROOT/f, tmp_path/f)
    shutil.copytree(ROOT/'nbs', tmp_path/'nbs')
    shutil.copytree(ROOT/'collab_nb', tmp_path/'collab_nb', ignore=shutil.ignore_patterns('__pycache__'))
    exe = Path(sys.executable).with_name('nbdev-export')
    subprocess.run([str(exe)], cwd=tmp_path, check=True)
    before, after = _files(ROOT/'collab_nb'), _files(tmp_path/'collab_nb')
    assert sorted(map(str, after)) == sorted(map(str, before)), "export adds or removes modules"
    changed = [str(p) for p in before if before[p] != after[p]]
    assert not changed, f"nbdev-export changes {changed}: edit the notebooks, not collab_nb/, then export"
