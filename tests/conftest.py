"Shared test setup: find the MovieLens test copies and keep plots off-screen."
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_shared = ROOT.parent/'shared'/'data'
if 'COLLAB_NB_DATA' not in os.environ and _shared.is_dir(): os.environ['COLLAB_NB_DATA'] = str(_shared)
os.environ.setdefault('MPLBACKEND', 'Agg')
