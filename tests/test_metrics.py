"Metrics: hand-computed values on tiny examples, baselines, and the official u1–u5 protocol."
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from collab_nb.data import CollabVocab
from collab_nb.metrics import (
    GlobalMean,
    MostPopular,
    average_precision_at_k,
    evaluate,
    evaluate_folds,
    fit_biases,
    hit_at_k,
    mae,
    ndcg_at_k,
    precision_at_k,
    predict,
    ranking_metrics,
    recall_at_k,
    reciprocal_rank_at_k,
    rmse,
)


def test_rmse_mae_by_hand():
    p, t = [1., 2., 4.], [2., 2., 2.]
    assert rmse(p, t) == pytest.approx(math.sqrt((1+0+4)/3))
    assert mae(p, t) == pytest.approx(1.)
    assert rmse(torch.tensor(p), np.array(t)) == pytest.approx(rmse(p, t))
    with pytest.raises(ValueError, match='pred has 3 values'): rmse(p, [1.])

def test_ranking_by_hand():
    ranked, rel = [5, 3, 9, 1], {3, 1, 7}
    assert precision_at_k(ranked, rel, 2) == pytest.approx(1/2)
    assert recall_at_k(ranked, rel, 4) == pytest.approx(2/3)
    # hits at positions 1 and 3: (1/log2 3 + 1/log2 5) / (1 + 1/log2 3 + 1/log2 4)
    assert ndcg_at_k(ranked, rel, 4) == pytest.approx((1/math.log2(3) + 1/math.log2(5)) / (1 + 1/math.log2(3) + 0.5))
    assert ndcg_at_k([3, 1, 7], rel, 3) == pytest.approx(1.)
    assert math.isnan(recall_at_k(ranked, set(), 3))
    # hits at ranks 2 and 4: precisions 1/2 and 2/4, over min(3 relevant, k=4)
    assert average_precision_at_k(ranked, rel, 4) == pytest.approx((1/2 + 2/4)/3)
    assert average_precision_at_k(ranked, rel, 2) == pytest.approx((1/2)/2)
    assert reciprocal_rank_at_k(ranked, rel, 4) == pytest.approx(1/2) and reciprocal_rank_at_k(ranked, rel, 1) == 0
    assert hit_at_k(ranked, rel, 1) == 0 and hit_at_k(ranked, rel, 2) == 1

class Fixed(nn.Module):
    def __init__(self, t): super().__init__(); self.t = nn.Parameter(torch.tensor(t), requires_grad=False)
    def forward(self, x): return self.t[x[:,0], x[:,1]]

def test_ranking_metrics_matches_per_user_definitions():
    vocab = CollabVocab([1, 2], [10, 20, 30, 40])
    model = Fixed([[0.]*5, [0, .9, .8, .7, .1], [0, .1, .2, .3, .4]])
    tst = pd.DataFrame({'user': [1, 1, 2, 2, 2], 'movie': [20, 40, 10, 20, 99], 'rating': [5., 4., 4., 2., 5.]})
    trn = pd.DataFrame({'user': [1, 2], 'movie': [10, 40], 'rating': [3., 3.]})
    r = ranking_metrics(model, vocab, tst, trn, k=2)
    # user 1 sees [20, 30] (10 was rated in training), relevant {20, 40}; user 2 sees [30, 20], relevant {10, 99}
    assert r['precision_at_2'] == pytest.approx((1/2 + 0)/2)
    assert r['recall_at_2'] == pytest.approx((1/2 + 0)/2)
    assert r['ndcg_at_2'] == pytest.approx((1/(1 + 1/math.log2(3)) + 0)/2)
    assert r['n_rank_users'] == 2
    # user 1: hit at rank 1 -> AP 1/min(2 relevant, 2), RR 1, hit; user 2: no hit
    assert (r['map_at_2'], r['mrr_at_2'], r['hit_rate_at_2']) == pytest.approx(((1/2)/2, 1/2, 1/2))
    assert r['coverage_at_2'] == pytest.approx(2/4)            # items 20 and 30 shown, of 4
    assert r['mean_pop_at_2'] == pytest.approx(0.)             # neither was rated in training
    ev = evaluate(model, vocab, tst, trn, k=2)
    assert ev['n_unknown'] == 1 and ev['n_test'] == 5
    pop = ranking_metrics(MostPopular.from_df(trn, vocab), vocab, tst, trn, k=2)
    assert ev['popular_ndcg_at_2'] == pop['ndcg_at_2'] and ev['popular_coverage_at_2'] == pop['coverage_at_2']
    assert 'rmse' not in evaluate(model, vocab, tst, trn, k=2, ratings=False)

def test_baselines_tiny():
    df = pd.DataFrame({'user': [1, 1, 2, 2], 'movie': [10, 20, 10, 20], 'rating': [2., 3., 4., 5.]})
    v = CollabVocab(df.user, df.movie)
    assert torch.allclose(predict(fit_biases(df, v, reg=0.), v, df), torch.tensor([2., 3., 4., 5.]), atol=1e-4)
    assert predict(GlobalMean(3.5), v, df).tolist() == [3.5]*4

@pytest.mark.slow
def test_u1_u5_protocol_runs():
    def fit(trn):
        v = CollabVocab(trn.user, trn.movie); return fit_biases(trn, v), v
    df = evaluate_folds(fit)
    assert list(df.index) == ['u1', 'u2', 'u3', 'u4', 'u5', 'mean']
    assert (df['n_test'][:5] == 20_000).all()
    assert 0.9 < df.loc['mean', 'rmse'] < 1.0
