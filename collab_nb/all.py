"The public API: `from collab_nb.all import *` (fastai convention). Hand-kept: it lists the exported modules."
from .bayes import *
from .data import *
from .distributed import *
from .interpret import *
from .lean import *
from .lookup import *
from .metrics import *
from .modelfile import *
from .models import *
from .neural import *
from .ranking import *
from .recommend import *
from .registry import *
from .runs import *
from .svdpp import *
from .train import *
