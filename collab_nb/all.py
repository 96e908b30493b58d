"The public API: `from collab_nb.all import *` (fastai convention). Hand-kept: it lists the exported modules."
from .data import *
from .lookup import *
from .models import *
from .train import *
from .neural import *
from .ranking import *
from .svdpp import *
from .bayes import *
from .metrics import *
from .recommend import *
from .modelfile import *
from .lean import *
from .distributed import *
from .interpret import *
