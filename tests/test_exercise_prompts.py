"""The exercise prompts make students think: no solution text in the prose, a prediction asked before an experiment, facts
checked, and discussion questions (each with a model answer) that cover the questionnaire of fastbook's chapter 8."""
import json
import re
from pathlib import Path

import pytest

from collab_nb.classroom.handout import exercises_dir

NBS = sorted(Path(exercises_dir()).glob('*.ipynb'))

def _cells(p): return json.loads(p.read_text())['cells']
def _md(p): return '\n'.join(''.join(c['source']) for c in _cells(p) if c['cell_type'] == 'markdown')

def _solution_lines(p):
    "Code lines between BEGIN and END SOLUTION markers"
    res = []
    for c in _cells(p):
        m = re.search(r'### BEGIN SOLUTION\n(.*?)### END SOLUTION', ''.join(c['source']), re.S)
        if m: res += [l.strip() for l in m.group(1).splitlines() if len(l.strip()) > 12]
    return res

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_prompts_hand_out_no_solution(nb):
    md = _md(nb)
    assert _solution_lines(nb), f"{nb.name} has no solution cells"
    leaked = [l for l in _solution_lines(nb) if l in md]
    assert not leaked, f"{nb.name}: the prose gives away {leaked}"

@pytest.mark.parametrize('nb', [p for p in NBS if not p.stem.startswith('00_')], ids=lambda p: p.stem)
def test_experiments_ask_for_a_prediction(nb):
    assert 'Predict before you run' in _md(nb), f"{nb.name}: no predict-then-run experiment"

def test_emb_sz_rule_in_the_prompt_is_fastais():
    from fastai.tabular.model import emb_sz_rule
    md = ' '.join(_md(Path(exercises_dir())/'04_collab_nn.ipynb').split())
    a, b, cap = re.search(r'round\(([\d.]+) \* n_cat\*\*([\d.]+)\)`, capped at (\d+)', md).groups()
    rule = lambda n: min(int(cap), round(float(a) * n**float(b)))
    assert all(rule(n) == emb_sz_rule(n) for n in (2, 10, 100, 944, 1_683, 10_000, 10**6))

# --- the discussion questions cover the questionnaire of fastbook's chapter 8 ------------------------------------
# Each topic of the chapter's questionnaire (paraphrased), with a regex that some discussion question must match and,
# where the question alone is too general to tell, one its model answer must match too. Whitespace is collapsed first.
QUESTIONNAIRE = [
    ('what problem collaborative filtering solves',                      r'collaborative filtering.*\bproblem\b', None),
    ('how it solves it: what it discovers from the ratings alone',       r'collaborative filtering uses only.*discover', r'latent factor'),
    ('why a rating-prediction model can be a poor recommender',          r'poor recommender', None),
    ('the ratings as a crosstab, and the code that builds it',           r'crosstab', r'pivot_table|crosstab\('),
    ('what a latent factor is, and why "latent"',                        r'latent factor.*\blatent\b', None),
    ('what a dot product is, computed by hand with Python lists',        r'dot product.*plain python', r'zip\('),
    ('what DataFrame.merge does',                                        r'\bmerge\b', None),
    ('what an embedding matrix is',                                      r'embedding matrix', None),
    ('an embedding and one-hot vectors give the same result',           r'embedding.*one-hot|one-hot.*embedding', None),
    ('why an embedding rather than one-hot vectors',                     r'why do we look factors up with an embedding', r'multipl'),
    ('what an embedding contains before training',                       r'before training', r'random'),
    ('what x[:,0] returns',                                              r'x\[:,\s*0\]', None),
    ('a good loss for MovieLens, and why',                               r'which loss', r'squared error'),
    ('cross-entropy on the star values, and how the model must change',  r'cross-entropy', r'\b5\b.*logit|logit.*\b5\b'),
    ('what the user and movie biases are for',                           r'bias capture', None),
    ('another name for weight decay',                                    r'another name for weight decay', r'\bL2\b'),
    ('the equation of weight decay',                                     r'equation', r'wd\\sum'),
    ('the gradient of weight decay, and why it shrinks the weights',     r'2 \* wd \* p', None),
    ('why smaller weights generalise better',                            r'weight decay.*overfitting', r'small'),
    ('what argsort does',                                                r'argsort', None),
    ('sorting the biases vs sorting the average ratings',               r'bias.*average rating|average rating.*bias', None),
    ("printing a model's layers",                                        r'layers of the model', r'print'),
    ('the bootstrapping (cold-start) problem',                           r'cold-start|bootstrapping', None),
    ('bootstrapping a new user',                                         r'cold-start|bootstrapping', r'new user.*(rate|average)'),
    ('bootstrapping a new movie',                                        r'cold-start|bootstrapping', r'new items?, show'),
    ('feedback loops',                                                   r'feedback loop', None),
    ('different numbers of factors for users and movies in a network',  r'same length.*CollabNN.*not', None),
    ('why CollabNN has an nn.Sequential',                                r'nn\.Sequential', None),
    ('extra information (metadata) in a neural model',                   r'extra information', None),
    ('the model to use for metadata and dates (a tabular model)',        r'what kind of model.*time|time.*what kind of model', r'tabular'),
    ('why y_range goes past the rating scale (sigmoid_range)',           r'y_range', None),
]

def _flat(s): return ' '.join(s.split())

def questions()->list:
    "`(notebook, n, question, model answer)` for each `**Qn.**` cell; the answer is '' when the next cell is not one"
    res = []
    for p in NBS:
        cells = _cells(p)
        for i, c in enumerate(cells):
            src = ''.join(c['source'])
            m = re.search(r'^\*\*Q(\d+)\.\*\*', src, re.M) if c['cell_type'] == 'markdown' else None
            if not m: continue
            nxt = ''.join(cells[i+1]['source']) if i+1 < len(cells) and cells[i+1]['cell_type'] == 'markdown' else ''
            res.append((p.stem, int(m.group(1)), _flat(src[m.start():]), _flat(nxt) if nxt.startswith('**Model answer') else ''))
    return res

def test_questions_numbered_and_answered():
    qs = questions()
    for p in NBS:
        assert [n for nb,n,_,_ in qs if nb == p.stem] == list(range(1, sum(nb == p.stem for nb,*_ in qs)+1)), p.name
    unanswered = [f'{nb} Q{n}' for nb,n,_,a in qs if not a]
    assert not unanswered, f"questions not followed by a model answer: {unanswered}"

def covering(topic_re, answer_re, qs=None)->list:
    "`notebook Qn` of the answered questions that cover a topic"
    return [f'{nb} Q{n}' for nb,n,q,a in (qs or questions())
            if a and re.search(topic_re, q, re.I) and (answer_re is None or re.search(answer_re, a, re.I))]

def test_questionnaire_covered():
    qs = questions()
    assert len(QUESTIONNAIRE) >= 30
    missing = [topic for topic, q_re, a_re in QUESTIONNAIRE if not covering(q_re, a_re, qs)]
    assert not missing, f"chapter 8 questionnaire topics no discussion question covers: {missing}"
