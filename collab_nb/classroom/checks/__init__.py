"""The exercise checkers: the framework (`core`, from nbs/reference/checks.ipynb) and one module of checkers per lesson
(from nbs/reference/checks_NN_lesson.ipynb). Hand-kept: a lesson's module is imported the first time anything but
`LESSONS` is asked of this package, so `from collab_nb.classroom.checks import check_match_scores` works and a notebook
that needs one lesson's checkers imports only what that lesson needs."""
import importlib

LESSONS = {'00_data': 'data', '01_lookup': 'lookup', '02_dot_product': 'dot_product', '03_interpret': 'interpret',
           '04_collab_nn': 'collab_nn', '05_metrics': 'metrics', '05b_choosing': 'choosing', '05c_time': 'timesplit',
           '06_recommend': 'recommend', '06b_cold_item': 'cold_item', '07_ranking': 'ranking', '07b_baselines': 'baselines',
           '08_svdpp': 'svdpp', '08b_bayes': 'bayes', '09_fast': 'fast', '10_scale': 'scale'}  # lesson id (its notebook in nbs/) -> module of its checkers
_FRAMEWORK = ['EXERCISES', 'ExerciseError', 'exercise', 'lesson_exercises', 'run_check']

def _public()->dict:
    "The framework's names and every lesson's checkers, all registered"
    core = importlib.import_module(f'{__name__}.core')
    res = {k: getattr(core, k) for k in _FRAMEWORK}
    for m in LESSONS.values():
        mod = importlib.import_module(f'{__name__}.{m}')
        res.update({k: getattr(mod, k) for k in mod.__all__})
    return res

def __getattr__(name:str):
    pub = _public()
    globals().update(pub, __all__=list(pub))
    if name not in globals(): raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return globals()[name]
