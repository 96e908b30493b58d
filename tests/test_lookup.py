"Lookup lesson (collab_nb.lookup): a one-hot matmul and indexing give the same rows and the same gradients."
import pytest
import torch
from fastai.layers import Embedding
from torch import nn

from collab_nb.lookup import *


@pytest.fixture
def table():
    return torch.randn(944, 50, generator=torch.Generator().manual_seed(0)) # ml-100k's user vocab size

def test_match_score():
    u, items = torch.tensor([0.9, 0.8, -0.6]), torch.tensor([[0.98, 0.9, -0.9], [-0.99, -0.3, 0.8]])
    s = match_score(u, items)
    assert s.shape == (2,) and s[0] > 0 > s[1]
    torch.testing.assert_close(s, items @ u)
    us = torch.randn(4, 3)
    torch.testing.assert_close(match_score(us[:,None], items[None]), us @ items.T)

def test_one_hot():
    idx = torch.tensor([[2, 0], [3, 3]])
    oh = one_hot(idx, 5)
    assert oh.shape == (2, 2, 5) and oh.dtype == torch.float32
    assert torch.equal(oh, nn.functional.one_hot(idx, 5).float())
    assert one_hot(4, 5).tolist() == [0, 0, 0, 0, 1]
    assert one_hot(torch.tensor([1]), 3, dtype=torch.float64).dtype == torch.float64
    for bad in (5, -1, torch.tensor([0, 7])):
        with pytest.raises(IndexError, match=r'\[0, 5\)'): one_hot(bad, 5)

def test_onehot_lookup_equals_indexing(table):
    for idx in (torch.tensor(196), torch.randint(0, 944, (64,)), torch.randint(0, 944, (8, 3)), torch.tensor([0, 943, 0])):
        assert torch.equal(onehot_lookup(idx, table), table[idx]) # exact: one non-zero term per output

def test_gradients_equal(table):
    idx = torch.tensor([5, 3, 5, 5, 900, 0])  # repeats must accumulate
    g_ix, g_oh = lookup_grads(idx, table)
    torch.testing.assert_close(g_ix, g_oh)
    torch.testing.assert_close(g_ix[5], 3*table[5])      # default loss: half the sum of squares
    touched = (g_ix != 0).any(1).nonzero()[:,0].tolist()
    assert touched == sorted(set(idx.tolist()))
    target = torch.randn(len(idx), 50)
    g_ix, g_oh = lookup_grads(idx, table, lambda r: ((r - target)**2).mean())
    torch.testing.assert_close(g_ix, g_oh)
    assert g_ix.abs().sum() > 0

def test_embeddings_match_onehot(table):
    idx = torch.randint(0, 944, (256,))
    loss_fn = lambda r: r.pow(2).sum()/2
    _, g_oh = lookup_grads(idx, table, loss_fn)
    for emb in (nn.Embedding(944, 50), Embedding(944, 50)):
        with torch.no_grad(): emb.weight.copy_(table)
        assert torch.equal(emb(idx), onehot_lookup(idx, table))
        loss_fn(emb(idx)).backward()
        torch.testing.assert_close(emb.weight.grad, g_oh)

def test_fastai_embedding_init():
    w = Embedding(2000, 50).weight
    assert abs(w.std().item() - 0.01) < 2e-3 and w.abs().max() <= 0.02

def test_lookup_cost(table):
    idx = torch.randint(0, 944, (128,))
    c = lookup_cost(idx, table, n_rep=3)
    assert c['onehot_bytes'] == 128*944*4 and c['index_bytes'] == 128*8 and c['rows_bytes'] == 128*50*4
    assert c['onehot_ms'] > 0 and c['index_ms'] > 0 and c['slowdown'] > 0
    cb = lookup_cost(idx, table, n_rep=2, backward=True)
    assert cb['onehot_bytes'] == c['onehot_bytes']
    assert not table.requires_grad   # the caller's table is left alone
