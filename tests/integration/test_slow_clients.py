"""Slow and greedy clients against the real binary: header, body and keep-alive timeouts, the
per-source and total connection caps, WebSocket pings and idle timeout, the bounded send queue of
a socket whose reader stopped, the 64 KiB frame limit, and the counters in /metrics.

Every client here is a raw socket, so that the test decides exactly what is sent and when. The
limits are configured small (through the TOML file, which an older binary also reads), so each
test takes seconds; every wait is bounded. Loopback answers any 127.x.y.z, so "other sources"
are clients bound to 127.0.0.2, 127.0.0.3, ...
"""
import base64
import contextlib
import json
import os
import select
import socket
import struct
import subprocess
import time

import pytest

from conftest import BIN, Server, running

# --- raw clients -------------------------------------------------------------------------------


def connect(port, source="127.0.0.1", rcvbuf=None, timeout=5):
    so = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:  # set before connect: the window is fixed small, no autotuning
        so.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    so.bind((source, 0))
    so.settimeout(timeout)
    so.connect(("127.0.0.1", port))
    return so


def read_until_closed(so, timeout):
    """Reads until the server closes (EOF or reset); returns the bytes, or None on timeout."""
    out = b""
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            return None
        so.settimeout(left)
        try:
            b = so.recv(65536)
        except socket.timeout:
            return None
        except ConnectionResetError:
            return out
        if not b:
            return out
        out += b


def http_answer(raw):
    """(status, headers dict lower-case, body) of one HTTP response in bytes."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def metrics(server):
    r = server.request("GET", "/metrics")
    assert r.status == 200, r
    return r.json


def wait_for(pred, timeout=10, step=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    pytest.fail(f"{what} not reached within {timeout} s")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class RawWs:
    """A WebSocket client over a plain socket: it answers nothing unless told to."""

    def __init__(self, port, path="/v2/websocket", source="127.0.0.1", rcvbuf=None, timeout=5):
        self.so = connect(port, source, rcvbuf, timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.so.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            b = self.so.recv(4096)
            assert b, "closed during the handshake"
            self.buf += b
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])

    def send_frame(self, opcode, payload, fin=True):
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        rep = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(rep, "big")).to_bytes(n, "big")
        self.so.sendall(head + mask + masked)

    def send_json(self, msg):
        self.send_frame(1, json.dumps(msg).encode())

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError
            self.so.settimeout(left)
            try:
                b = self.so.recv(262144)
            except socket.timeout:
                raise TimeoutError from None
            except ConnectionResetError:
                b = b""
            if not b:
                raise EOFError
            self.buf += b

    def recv_frame(self, timeout=5):
        """(opcode, payload); raises EOFError when the server closed, TimeoutError."""
        deadline = time.time() + timeout
        self._fill(2, deadline)
        n = self.buf[1] & 0x7F
        pos = 2
        if n == 126:
            self._fill(4, deadline)
            n = struct.unpack("!H", self.buf[2:4])[0]
            pos = 4
        elif n == 127:
            self._fill(10, deadline)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            pos = 10
        self._fill(pos + n, deadline)
        op, payload = self.buf[0] & 0x0F, self.buf[pos:pos + n]
        self.buf = self.buf[pos + n:]
        return op, payload

    def recv_json(self, timeout=5):
        """The next text message, answering pings on the way."""
        deadline = time.time() + timeout
        while True:
            op, payload = self.recv_frame(max(0.01, deadline - time.time()))
            if op == 9:
                self.send_frame(10, payload)
                continue
            assert op == 1, (op, payload[:100])
            return json.loads(payload)

    def reply(self, request_id, timeout=5):
        while True:
            m = self.recv_json(timeout)
            if m.get("action") == "reply" and m.get("request_id") == request_id:
                return m

    def until_close(self, timeout=10):
        """Reads frames until the close frame; returns its code (None: EOF without one)."""
        deadline = time.time() + timeout
        while True:
            try:
                op, payload = self.recv_frame(max(0.01, deadline - time.time()))
            except EOFError:
                return None
            if op == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def close(self):
        try:
            self.so.close()
        except OSError:
            pass


@contextlib.contextmanager
def running_lean(data_dir, config):
    """A server whose memory can be measured: under AddressSanitizer freed memory is normally
    held back (the quarantine), so RSS would grow with every allocation, bounded queue or not."""
    path = os.path.join(os.path.dirname(str(data_dir)), "confab.toml")
    with open(path, "w") as f:
        f.write(config)
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=0"}
    s = Server(data_dir, extra_args=["--config", path], env=env).start()
    try:
        yield s
    finally:
        code = s.stop()
    assert code == 0, "".join(s.log_lines[-50:])


def toml(**http):
    return "[http]\n" + "".join(f"{k} = {v}\n" for k, v in http.items())


def kazoo_503(raw, reason):
    status, headers, body = http_answer(raw)
    assert status == 503, raw[:300]
    assert headers.get("retry-after", "").isdigit(), headers
    assert headers.get("connection", "").lower() == "close", headers
    j = json.loads(body)
    assert j["status"] == "error" and j["error"] == "503", j
    assert j["message"] == "service_unavailable", j
    assert reason in j["data"]["message"], j
    return j


# --- HTTP timeouts -----------------------------------------------------------------------------

def test_slowloris_connections_are_closed_after_the_header_timeout(tmp_path):
    """60 clients each sending one header byte every 0.3 s: the bytes do not extend the header
    timeout (1 s); every one is answered 408 and closed, while /healthz keeps answering."""
    with running(tmp_path / "var", config=toml(header_timeout=1)) as s:
        trickle = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: abcdefgh\r\n" * 200
        socks = [connect(s.port, "127.0.0.2") for _ in range(60)]
        answers = {so: b"" for so in socks}
        open_ = set(socks)
        start = time.time()
        i = 0
        while open_ and time.time() - start < 8:
            for so in list(open_):
                try:
                    so.send(trickle[i:i + 1])
                except OSError:
                    pass  # closed under us: the read below sees it
            i += 1
            r, _, _ = select.select(list(open_), [], [], 0.3)
            for so in r:
                try:
                    b = so.recv(4096)
                except ConnectionResetError:
                    b = b""
                answers[so] += b
                if not b:
                    open_.discard(so)
            assert s.request("GET", "/healthz").status == 200
        assert not open_, f"{len(open_)} of 60 trickling connections still open after 8 s"
        assert i < 25, "the trickle outlasted its header by far"  # 1 s timeout, 0.3 s steps
        for so, raw in answers.items():
            if raw:  # a reset may eat the answer; those that got one got a 408
                status, _, body = http_answer(raw)
                assert status == 408, raw[:200]
                assert json.loads(body)["message"] == "request_timeout"
            so.close()
        assert sum(1 for r in answers.values() if r) >= 30
        m = metrics(s)
        assert m["http"]["timed_out"]["header"] >= 60, m["http"]


def test_silent_connection_is_closed_without_an_answer(tmp_path):
    with running(tmp_path / "var", config=toml(header_timeout=1)) as s:
        so = connect(s.port)
        assert read_until_closed(so, 6) == b"", "a silent connection gets no 408, just a close"
        so.close()


def test_slow_body_is_answered_408_and_closed(tmp_path):
    """The body must keep up body_min_rate after body_timeout; one byte every 0.3 s does not."""
    with running(tmp_path / "var", config=toml(body_timeout=1, body_min_rate=1024)) as s:
        so = connect(s.port)
        so.sendall(b"PUT /v2/api_auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 100000\r\n\r\n")
        start, raw = time.time(), b""
        so.setblocking(False)
        while time.time() - start < 8:
            try:
                so.send(b" ")
            except OSError:
                pass
            r, _, _ = select.select([so], [], [], 0.3)
            if r:
                try:
                    b = so.recv(4096)
                except ConnectionResetError:
                    b = b""
                raw += b
                if not b:
                    break
        else:
            pytest.fail("a body trickling at 3 bytes/s is still being read after 8 s")
        so.close()
        status, _, body = http_answer(raw)
        assert status == 408, raw[:300]
        j = json.loads(body)
        assert j["error"] == "408" and j["message"] == "request_timeout", j
        assert "body" in j["data"]["message"], j
        assert metrics(s)["http"]["timed_out"]["body"] == 1


def test_body_slower_than_the_timeout_but_above_the_rate_completes(tmp_path):
    """An upload that keeps coming at 3x the minimum rate is never cut, however long it takes
    beyond body_timeout."""
    with running(tmp_path / "var", config=toml(body_timeout=1, body_min_rate=1024)) as s:
        body = json.dumps({"data": {"api_key": s.admin_key}}).encode()
        body += b" " * (6000 - len(body))
        so = connect(s.port, timeout=10)
        so.sendall(b"PUT /v2/api_auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
        start = time.time()
        for i in range(0, len(body), 300):  # 3,000 bytes/s for 2 s
            so.sendall(body[i:i + 300])
            time.sleep(0.1)
        assert time.time() - start > 1.5  # longer than body_timeout alone
        raw = read_until_closed(so, 10)
        so.close()
        status, _, answer = http_answer(raw)
        assert status == 201, raw[:300]
        assert json.loads(answer)["auth_token"]


def test_idle_keepalive_connection_is_closed(tmp_path):
    with running(tmp_path / "var", config=toml(keepalive_timeout=1)) as s:
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        busy, idle = connect(s.port), connect(s.port)
        for so in (busy, idle):
            so.sendall(req)
            assert so.recv(4096).startswith(b"HTTP/1.1 200"), "first answer"
        # The busy one sends a request every 0.3 s for 2.4 s: it stays open (each request
        # restarts the idle wait), the idle one is closed after 1 s.
        for _ in range(8):
            time.sleep(0.3)
            busy.sendall(req)
            assert busy.recv(4096).startswith(b"HTTP/1.1 200"), "keep-alive request"
        assert read_until_closed(idle, 5) == b"", "no answer to an idle close"
        busy.close()
        idle.close()
        assert metrics(s)["http"]["timed_out"]["idle"] >= 1


# --- connection caps ---------------------------------------------------------------------------

def test_per_source_cap_refuses_with_503_and_counts_websockets(tmp_path):
    cfg = toml(max_connections=100, max_connections_per_source=3)
    with running(tmp_path / "var", config=cfg) as s:
        ws1, ws2 = RawWs(s.port, source="127.0.0.2"), RawWs(s.port, source="127.0.0.2")
        assert ws1.status == ws2.status == 101
        plain = connect(s.port, "127.0.0.2")
        # The fourth from that address is refused, HTTP or WebSocket alike.
        for req in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /v2/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n"):
            so = connect(s.port, "127.0.0.2")
            so.sendall(req)
            raw = read_until_closed(so, 5)
            so.close()
            assert raw is not None, "a refused connection is closed"
            kazoo_503(raw, "too many connections from this address")
        # Other addresses are not affected.
        assert s.request("GET", "/healthz").status == 200
        other = connect(s.port, "127.0.0.3")
        other.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert other.recv(4096).startswith(b"HTTP/1.1 200")
        other.close()
        m = metrics(s)["http"]
        assert m["refused"]["per_source"] == 2, m
        assert m["websockets_open"] == 2, m
        # A WebSocket closed frees its place.
        ws1.close()
        wait_for(lambda: metrics(s)["http"]["websockets_open"] == 1, what="the socket released")
        so = connect(s.port, "127.0.0.2")
        so.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert http_answer(read_until_closed(so, 5))[0] == 200
        for c in (so, plain, ws2):
            c.close()


def test_total_cap_refuses_every_source(tmp_path):
    cfg = toml(max_connections=4, max_connections_per_source=4)
    with running(tmp_path / "var", config=cfg) as s:
        hogs = [connect(s.port, f"127.0.0.{10 + i}") for i in range(4)]
        wait_for(lambda: s.request("GET", "/healthz").status == 503, what="the cap reached")
        so = connect(s.port, "127.0.0.20")
        so.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = read_until_closed(so, 5)
        so.close()
        kazoo_503(raw, "connection limit")
        for h in hogs:
            h.close()
        wait_for(lambda: s.request("GET", "/healthz").status == 200, what="places freed")
        m = metrics(s)["http"]
        assert m["refused"]["total"] >= 2 and m["refused"]["per_source"] == 0, m


# --- WebSocket ---------------------------------------------------------------------------------

def test_ws_client_that_never_answers_pings_is_closed_1001(tmp_path):
    cfg = toml(ws_ping_interval=1, ws_idle_timeout=2)
    with running(tmp_path / "var", config=cfg) as s:
        mute, alive = RawWs(s.port), RawWs(s.port)
        assert mute.status == alive.status == 101
        op, payload = mute.recv_frame(timeout=5)
        assert op == 9, "the server pings a silent client"
        # The answering client stays open through several pings.
        pings = 0
        deadline = time.time() + 4
        while time.time() < deadline:
            try:
                aop, apayload = alive.recv_frame(timeout=max(0.01, deadline - time.time()))
            except TimeoutError:
                break
            assert aop == 9, aop
            alive.send_frame(10, apayload)
            pings += 1
        assert pings >= 2
        assert mute.until_close(timeout=5) == 1001
        assert mute.until_close(timeout=5) is None  # and then EOF
        alive.send_json({"action": "ping", "request_id": "still-here"})
        assert alive.reply("still-here")["request_id"] == "still-here"
        m = metrics(s)["http"]
        assert m["ws_ping_timeouts"] == 1, m
        mute.close()
        alive.close()


def test_ws_frame_of_64_kib_is_accepted_and_one_byte_more_gets_1009(tmp_path):
    with running(tmp_path / "var") as s:
        token = s.admin_token()
        ws = RawWs(s.port)
        msg = {"action": "ping", "request_id": "big", "auth_token": token, "pad": ""}
        msg["pad"] = "x" * (65536 - len(json.dumps(msg)))
        text = json.dumps(msg).encode()
        assert len(text) == 65536
        ws.send_frame(1, text)
        r = ws.reply("big")
        assert r["status"] == "success" and r["data"] == {"response": "pong"}, r
        ws.send_frame(1, text + b" ")
        assert ws.until_close() == 1009
        ws.close()
        # The same limit holds for a message in fragments.
        ws = RawWs(s.port)
        ws.send_frame(1, text[:40000], fin=False)
        ws.send_frame(0, text[40000:] + b" ")
        assert ws.until_close() == 1009
        ws.close()
        assert s.request("GET", "/healthz").status == 200


def _events_setup(s, members):
    token = s.admin_token()
    acct = s.admin_account
    r = s.request("PUT", f"/v2/accounts/{acct}/conferences",
                  {"data": {"name": "flood", "member": {"join_muted": False}}}, token=token)
    assert r.status == 201, r
    conf = r.data["id"]
    for i in range(members):
        r = s.request("POST", f"/v2/accounts/{acct}/conferences/{conf}/participants",
                      {"data": {"name": f"m{i}", "number": f"{1000 + i}"}}, token=token)
        assert r.status == 201, r
    return acct, conf, token


def _subscribe(ws, acct, conf, token):
    ws.send_json({"action": "subscribe", "request_id": "sub", "auth_token": token,
                  "data": {"account_id": acct, "binding": f"conference.event.{conf}.*"}})
    assert ws.reply("sub")["status"] == "success"


def _flood_until_cut(s, acct, conf, token, reader, members, max_rounds):
    """Mutes and unmutes everyone until the server counts one slow socket cut; the reading
    subscriber takes every event meanwhile. Returns the rounds it took."""
    for n in range(max_rounds):
        action = "mute" if n % 2 == 0 else "unmute"
        r = s.request("PUT", f"/v2/accounts/{acct}/conferences/{conf}/participants",
                      {"data": {"action": action}}, token=token)
        assert r.status == 202, r
        got = 0
        while got < members:
            m = reader.recv_json(timeout=10)
            if m.get("action") == "event":
                assert m["name"] == f"{action}-member", m
                got += 1
        if metrics(s).get("http", {}).get("ws_closed_slow", 0) >= 1:
            return n + 1
    pytest.fail(f"no slow socket cut after {max_rounds} rounds of {members} events")


def test_non_reading_subscriber_is_cut_1008_and_memory_stays_flat(tmp_path):
    """A subscriber that stops reading while events pour in: the server cuts it with 1008 once
    64 KiB are queued for it, releases the queue, and its RSS does not grow with the flood; a
    subscriber that reads gets every event and is not cut."""
    members = 40
    cfg = toml(ws_queue_bytes=65536, ws_queue_frames=1000000, ws_ping_interval=600,
               ws_idle_timeout=1200)
    with running_lean(tmp_path / "var", config=cfg) as s:
        acct, conf, token = _events_setup(s, members)
        stalled = RawWs(s.port, rcvbuf=4096)
        reader = RawWs(s.port)
        _subscribe(stalled, acct, conf, token)
        _subscribe(reader, acct, conf, token)
        rss0 = rss_kib(s.proc.pid)
        rounds = _flood_until_cut(s, acct, conf, token, reader, members, max_rounds=400)
        assert stalled.until_close(timeout=5) == 1008
        stalled.close()
        # Keep flooding as long again: nothing is queued for the cut socket any more.
        for n in range(rounds):
            action = "mute" if (rounds + n) % 2 == 0 else "unmute"
            r = s.request("PUT", f"/v2/accounts/{acct}/conferences/{conf}/participants",
                          {"data": {"action": action}}, token=token)
            assert r.status == 202, r
            for _ in range(members):
                assert reader.recv_json(timeout=10)["action"] == "event"
        grown = rss_kib(s.proc.pid) - rss0
        m = metrics(s)["http"]
        assert m["ws_closed_slow"] == 1, m
        assert m["websockets_open"] == 1, m
        # The stalled socket was sent 2 x `rounds` x 40 events of ~1.2 KiB (about 6 MiB), beyond
        # what the kernel buffers hold: an unbounded queue would keep them; a bounded one only
        # 64 KiB, and not even that once the socket is cut.
        assert grown < 12 * 1024, f"RSS grew {grown} KiB over {rounds} x 2 rounds"
        reader.close()


def test_queued_frame_cap_cuts_with_1008(tmp_path):
    members = 40
    cfg = toml(ws_queue_frames=16, ws_queue_bytes=1 << 30, ws_ping_interval=600,
               ws_idle_timeout=1200)
    with running(tmp_path / "var", config=cfg) as s:
        acct, conf, token = _events_setup(s, members)
        stalled = RawWs(s.port, rcvbuf=4096)
        reader = RawWs(s.port)
        _subscribe(stalled, acct, conf, token)
        _subscribe(reader, acct, conf, token)
        _flood_until_cut(s, acct, conf, token, reader, members, max_rounds=400)
        assert stalled.until_close(timeout=5) == 1008
        stalled.close()
        reader.close()
        assert metrics(s)["http"]["ws_closed_slow"] == 1


# --- counters and config -----------------------------------------------------------------------

def test_metrics_report_http_and_control_thread(tmp_path):
    with running(tmp_path / "var") as s:
        m0 = metrics(s)
        h, c = m0["http"], m0["control"]
        for k in ("connections_open", "websockets_open", "connections_accepted", "accept_errors",
                  "ws_closed_slow", "ws_ping_timeouts"):
            assert isinstance(h[k], int), (k, h)
        assert set(h["refused"]) == {"per_source", "total"}
        assert set(h["timed_out"]) == {"header", "body", "idle", "write"}
        assert h["connections_open"] >= 1  # this request's
        for k in ("handler_calls", "slow_handlers"):
            assert isinstance(c[k], int), (k, c)
        for k in ("max_handler_ms", "loop_lag_max_ms"):
            assert isinstance(c[k], (int, float)) and c[k] >= 0, (k, c)
        ws = RawWs(s.port)
        ws.send_json({"action": "ping", "request_id": "p"})
        ws.reply("p")
        m1 = metrics(s)
        # The upgrade, the message and the /metrics call in between were timed.
        assert m1["control"]["handler_calls"] >= c["handler_calls"] + 3
        assert m1["http"]["websockets_open"] == 1
        assert m1["http"]["connections_accepted"] >= h["connections_accepted"] + 2
        ws.close()
        wait_for(lambda: metrics(s)["http"]["websockets_open"] == 0, what="the socket counted out")


@pytest.mark.parametrize("text,needle", [
    (toml(header_timeout=0), "http.header_timeout must be between 1 and 3600"),
    (toml(max_connections_per_source=0), "http.max_connections_per_source must be between"),
    (toml(ws_queue_bytes=1000), "http.ws_queue_bytes must be between 65536"),
    (toml(ws_ping_interval=30, ws_idle_timeout=30),
     "http.ws_idle_timeout (30) must be longer than http.ws_ping_interval (30)"),
    (toml(keepalive_timeout='"60s"'), "http.keepalive_timeout has the wrong type"),
])
def test_bad_limits_are_refused_at_startup(tmp_path, text, needle):
    path = tmp_path / "confab.toml"
    path.write_text(text)
    p = subprocess.run([BIN, "serve", "--data-dir", str(tmp_path / "var"), "--http",
                        "127.0.0.1:1", "--config", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert needle in p.stdout + p.stderr, p.stdout + p.stderr


def test_bad_limit_flag_and_env_are_refused(tmp_path):
    base = [BIN, "serve", "--data-dir", str(tmp_path / "var"), "--http", "127.0.0.1:1"]
    p = subprocess.run(base + ["--ws-ping-interval", "90"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0
    assert "must be longer than http.ws_ping_interval (90)" in p.stdout + p.stderr
    p = subprocess.run(base, capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, CONFAB_HTTP_MAX_CONNECTIONS="0"))
    assert p.returncode != 0
    assert "CONFAB_HTTP_MAX_CONNECTIONS" in p.stdout + p.stderr
