"The judge's channel against a hostile sandbox: frames that lie about their size, never end, or never get read; answer files that are links, FIFOs or too large; gradients of the wrong shape."
import os
import threading
import time

import pytest
import torch

from collab_nb.classroom import wire
from collab_nb.classroom.judge import Channel, Remote, RemoteGone, RemoteTimeout, judge
from collab_nb.classroom.runner import _read_response, meta_bytes, relay


def pipes():
    "`(grader's channel, sandbox's reading end, sandbox's writing end)`"
    (r1, w1), (r2, w2) = os.pipe(), os.pipe()
    for fd in (r1, w1, r2, w2): os.set_blocking(fd, False)
    return Channel(r2, w1, timeout=1), r1, w2

def test_oversized_frame_refused_before_it_is_read():
    "A frame that claims an exabyte: refused from its header, and the channel stays closed (the pipe is out of step)"
    ch, r, w = pipes()
    os.write(w, wire.HEADER.pack(1 << 60, 1))
    with pytest.raises(RemoteGone, match='too large'): ch.call(dict(kind='call', expr='f', args=(), grads=[]))
    with pytest.raises(RemoteGone, match='too large'): ch.call(dict(kind='call', expr='f', args=(), grads=[]))

def test_frame_that_never_ends_times_out():
    "Half a frame, then silence: a timeout at the deadline, not a hang"
    ch, r, w = pipes()
    os.write(w, wire.HEADER.pack(100, 1) + b'x' * 10)
    t = time.monotonic()
    with pytest.raises(RemoteTimeout): ch.call(dict(kind='call', expr='f', args=(), grads=[]))
    assert time.monotonic() - t < 5

def test_sandbox_that_does_not_read_cannot_hold_the_grader():
    "A request bigger than the pipe holds, to a sandbox that never reads: the call gives up at its deadline"
    ch, r, w = pipes()
    t = time.monotonic()
    with pytest.raises(RemoteTimeout): ch.call(dict(kind='call', expr='f', args=(torch.zeros(1 << 20),), grads=[None]))
    assert time.monotonic() - t < 5

def test_answers_that_are_not_answers():
    "Garbage, a pickle, and an answer to an earlier question (skipped): never unpickled, never mistaken for the answer"
    for payload, exc in ((b'garbage', RemoteGone), (b'\x80\x04\x95' + b'\0'*16, RemoteGone)):
        ch, r, w = pipes()
        wire.send(w, 1, payload, time.monotonic() + 1)
        with pytest.raises(exc, match='malformed'): ch.call(dict(kind='call', expr='f', args=(), grads=[]))
    ch, r, w = pipes()
    wire.send(w, 7, meta_bytes(dict(type='json', value='stale')), time.monotonic() + 1)   # not the number asked for
    wire.send(w, 1, meta_bytes(dict(type='json', value='fresh')), time.monotonic() + 1)
    assert ch.call(dict(kind='call', expr='f', args=(), grads=[]))[0]['value'] == 'fresh'

def test_answer_files_the_sandbox_relays_are_bounded(tmp_path):
    "In the sandbox, the kernel's answer file is read without following links, without blocking and up to the limit only"
    big = tmp_path/'big'; big.touch(); os.truncate(big, 10 << 30)   # 10 GiB, sparse
    os.symlink(tmp_path/'x', tmp_path/'link'); (tmp_path/'x').write_bytes(b'1')
    os.mkfifo(tmp_path/'fifo')
    t = time.monotonic()
    assert [_read_response(tmp_path/n) for n in ('big', 'link', 'fifo', 'none')] == [None]*4
    assert time.monotonic() - t < 10

def _kernel(ns, tmp_path):
    "The sandbox's side played by a thread: `relay` with a dictionary for the kernel's namespace"
    ch, r, w = pipes()
    ch.timeout = 20
    th = threading.Thread(target=relay, args=(r, w, lambda code: exec(code.replace('globals()', 'ns'), {'ns': ns}) or True, tmp_path, time.monotonic()+60))
    th.start()
    def stop(): os.close(ch.wfd); th.join()
    return ch, stop

def judged(ns, tmp_path, exercise, names)->dict:
    "{name: verdict} of `exercise` on each function `names` of `ns`, judged through the channel"
    ch, stop = _kernel(ns, tmp_path)
    try: return {k: judge(exercise, Remote(k, ch)) for k in names}
    finally: stop()

def test_wrong_shaped_gradients_are_a_crash(tmp_path, monkeypatch):
    "A kernel that answers a backward request with gradients of the wrong shape: a crash verdict for that exercise, not an exception out of the grader"
    import collab_nb.classroom.serve as serve
    ns = {'lookup': lambda i, w: torch.nn.functional.one_hot(i, w.shape[0]).float() @ w}
    monkeypatch.setattr(serve, '_answer_grad', lambda r: (dict(type='grads', n=1), {'g0': torch.zeros(1)}))
    st, msg = judged(ns, tmp_path, 'one_hot_lookup', ['lookup'])['lookup']
    assert st == 'crash' and 'shapes' in msg, (st, msg)

def test_posterior_through_the_judge(tmp_path):
    "A `(mean, precision)` pair comes back from the student's kernel as a tuple of tensors, so the grader judges it like the notebook does"
    def post(lam, films, ratings, alpha, cov=False):
        P = torch.diag(lam) + alpha*films.T@films
        return torch.linalg.solve(P, alpha*films.T@ratings), torch.linalg.inv(P) if cov else P
    ns = {'good': post, 'cov': lambda *a: post(*a, cov=True)}
    res = judged(ns, tmp_path, 'user_posterior', ['good', 'cov'])
    assert res['good'][0] == 'pass' and res['cov'][0] == 'fail' and 'covariance' in res['cov'][1], res

def test_delegation_is_trapped_in_the_kernel(tmp_path):
    "The traps go with each call: a kernel function that hands in the package's own `match_score` fails, even through a saved reference"
    import collab_nb.lookup
    saved = collab_nb.lookup.match_score
    ns = {'mine': lambda u, i: (u*i).sum(1), 'theirs': lambda u, i: saved(u, i)}
    res = judged(ns, tmp_path, 'match_scores', ['mine', 'theirs'])
    assert res['mine'][0] == 'pass' and res['theirs'][0] == 'fail' and 'hands in `collab_nb.lookup.match_score`' in res['theirs'][1], res

def test_half_written_request_is_not_served(tmp_path):
    "The relay answers only whole frames: half of one, then the grader gone, and nothing runs"
    (r1, w1), (_, w2) = os.pipe(), os.pipe()
    os.write(w1, wire.HEADER.pack(100, 1) + b'half'); os.close(w1)
    ran = []
    relay(r1, w2, lambda code: ran.append(code) or True, tmp_path, time.monotonic() + 2)
    assert ran == []

def test_answer_with_trailing_bytes_is_malformed():
    "An answer file that grew after it was written (the size race): safetensors refuses it, and that is a crash, not a wrong answer"
    ch, r, w = pipes()
    wire.send(w, 1, meta_bytes(dict(type='json', value=1)) + b'\0' * 1000, time.monotonic() + 1)
    with pytest.raises(RemoteGone, match='malformed'): ch.call(dict(kind='call', expr='f', args=(), grads=[]))

def test_tensors_inside_a_tuple_argument_carry_their_gradients(tmp_path):
    "`row_l2(tables, x)` gets its tables as a tuple: through the judge too, the penalty's gradient reaches them (and a detached one fails)"
    def rows(tables, x, detach=False):
        res = sum(t[x[:, c]].pow(2).reshape(len(x), -1).sum(1) for t, c in zip(tables, (0, 1, 0, 1)) if t is not None).mean()
        return res.detach() if detach else res
    res = judged({'good': rows, 'detached': lambda t, x: rows(t, x, True)}, tmp_path, 'row_l2', ['good', 'detached'])
    assert res['good'][0] == 'pass' and res['detached'][0] == 'fail' and 'no gradient' in res['detached'][1], res

def test_answer_cut_by_a_timeout_is_finished_next_time():
    "An answer whose deadline passes mid-frame: the call times out, and the next call finishes that frame and skips it, in step"
    ch, r, w = pipes()
    late = wire.HEADER.pack(1000, 1) + b'x' * 1000
    os.write(w, late[:100])  # the first answer, cut off at the deadline
    with pytest.raises(RemoteTimeout): ch.call(dict(kind='call', expr='f', args=(), grads=[]))
    os.write(w, late[100:] + wire.HEADER.pack(3, 2) + b'end')  # the rest arrives late, then the answer to call 2
    ch.n += 1
    assert ch._receive(2, time.monotonic() + 1) == b'end'
    assert ch.broken is None and not ch.pending

def test_lessons_5_and_5b_through_the_judge(tmp_path):
    "A pair of floats, a float, row numbers and a bool come back from the kernel; a wrong answer of each gets its sentence there too"
    import numpy as np
    from test_classroom import _carve05, _errs05, _peek05, _undcg05
    ns = {'errs': _errs05, 'errs_bcast': lambda p, t: _errs05(p, t, 'broadcast'), 'ndcg': _undcg05, 'ndcg_flat': lambda *a: _undcg05(*a, log=False),
          'carve': lambda *a: _carve05(*a).numpy(), 'carve_all': lambda *a: _carve05(*a, pool='all'), 'carve_global': lambda *a: _carve05(*a, rng='global'),
          'peeks': lambda s: np.bool_(_peek05(s)), 'peeks_any': lambda s: _peek05(s, final_ok=False)}
    cases = [('rating_errors', 'errs', 'errs_bcast', 'broadcasts'), ('user_ndcg', 'ndcg', 'ndcg_flat', 'log discount'),
             ('carve_valid_rows', 'carve', 'carve_all', 'are test rows'), ('carve_valid_rows', 'carve', 'carve_global', 'same seed'),
             ('peeks_at_test', 'peeks', 'peeks_any', 'does not peek')]
    for ex, good, bad, words in cases:
        res = judged(ns, tmp_path, ex, [good, bad])
        assert res[good][0] == 'pass' and res[bad][0] == 'fail' and words in res[bad][1], (ex, res)

def test_lessons_6b_and_10_through_the_judge(tmp_path):
    "A `(W, b)` pair, a model's gradients (the stale `.grad` it carries included) and row numbers come back from the kernel; a wrong answer of each gets its sentence there too"
    from test_classroom import _grads10, _ridge06b, _rows10
    ns = {'ridge': _ridge06b, 'ridge_pen': lambda *a: _ridge06b(*a, 'penalised'), 'grads': _grads10, 'grads_mean': lambda *a: _grads10(*a, combine='mean'),
          'grads_stale': lambda *a: _grads10(*a, zero=False), 'rows': _rows10, 'rows_same': lambda *a: _rows10(*a, how='same')}
    cases = [('ridge_map', 'ridge', 'ridge_pen', 'penalised the intercept'), ('shard_grads', 'grads', 'grads_mean', 'plain mean'),
             ('shard_grads', 'grads', 'grads_stale', 'left in `.grad`'), ('shard_rows', 'rows', 'rows_same', 'every rank got the same')]
    for ex, good, bad, words in cases:
        res = judged(ns, tmp_path, ex, [good, bad])
        assert res[good][0] == 'pass' and res[bad][0] == 'fail' and words in res[bad][1], (ex, res)
