"The judge's file channel: requests are only answered once they are complete."
import time
from collab_nb.classroom.judge import serve_requests

def test_half_written_request_is_not_served(tmp_path):
    "`Channel.call` writes `.N.req` then renames it to `N.req`: the server must not pick up the half-written file"
    (tmp_path/'.00001.req').write_bytes(b'half')
    ran = []
    serve_requests(tmp_path, lambda code: ran.append(code) or True, time.monotonic() + 0.3)
    assert ran == []
    (tmp_path/'.00001.req').rename(tmp_path/'00001.req')
    serve_requests(tmp_path, lambda code: ran.append(code) or True, time.monotonic() + 0.3)
    assert len(ran) == 1 and '00001.req' in ran[0]
