"""Integration harness: starts the real confab binary on loopback with a fresh data dir.

Every test talks to it over real HTTP and WebSocket connections. CONFAB_BIN points at the binary
under test (ctest sets it); the default is the debug build.
"""
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CONFAB_BIN", os.path.join(ROOT, "build", "debug", "confab"))
# Every server a test starts listens for SIP on a port the kernel picks (5060 is taken by the
# first, and by whatever else runs on the machine); the log line names it (Server.sip_port).
os.environ.setdefault("CONFAB_SIP", "127.0.0.1:0")


def free_port():
    """A port that was free a moment ago. Only for a port that must NOT be listened on (or one
    named in a config that is refused before it binds): under `ctest -j` another test may take
    it at any time. A server under test binds port 0 and tells its port in its log."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LISTENING = re.compile(r"listening on http://(\[[^\]]+\]|[^ :]+):(\d+) ")
SIP_LISTENING = re.compile(r"sip: answering on udp and tcp (\[[^\]]+\]|[^ :]+):(\d+)")
SANITIZER_REPORT = "WARNING: ThreadSanitizer"


class _Log:
    """The log of one started process, judged for sanitizer reports as each test ends."""

    def __init__(self, label, proc, lines, reader):
        self.label, self.proc, self.lines, self.reader = label, proc, lines, reader
        self.checked = 0

    def new_reports(self):
        if self.proc.poll() is not None and self.reader is not None:
            self.reader.join(10)  # the rest of the output of a process that has ended
        lines = list(self.lines)
        start, self.checked = self.checked, len(lines)
        return [(self.label, lines, i) for i in range(start, len(lines))
                if SANITIZER_REPORT in lines[i]]


_logs = []


def watch_log(label, proc, lines, reader=None):
    """Registers a started confab process: a ThreadSanitizer report in its output fails the test
    that was running (or the session, for a report after the last test)."""
    log = _Log(label, proc, lines, reader)
    _logs.append(log)
    return log


def _describe(reports):
    out = []
    for label, lines, i in reports[:3]:
        out.append(f"{label}:\n" + "".join(lines[i:i + 40]))
    return f"{len(reports)} sanitizer report(s):\n" + "\n".join(out)


@pytest.fixture(autouse=True)
def no_sanitizer_reports():
    yield
    reports = [r for log in _logs for r in log.new_reports()]
    if reports:
        pytest.fail(_describe(reports), pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    # Servers of module-scoped fixtures stop after the last test's own check.
    reports = [r for log in _logs for r in log.new_reports()]
    if reports:
        print("\n" + _describe(reports))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class Response:
    def __init__(self, status, body, headers, content=None):
        self.status = status
        self.raw = body
        self.content = body.encode() if content is None else content  # bytes, for binary bodies
        self.headers = headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def data(self):
        return self.json["data"]

    def __repr__(self):
        return f"<{self.status} {self.raw[:300]!r}>"


class Server:
    """One running confab process."""

    def __init__(self, data_dir, extra_args=(), env=None):
        self.data_dir = str(data_dir)
        self.port = None  # known once started: the server binds port 0 and logs the real one
        self.sip_port = None  # likewise, when the SIP endpoint is on
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.admin_key = None
        self.admin_account = None
        self.log_lines = []

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=20):
        # Port 0: the kernel picks a free port as the server binds it, so tests running side by
        # side (ctest -j) never race for one; the log line names it.
        args = [BIN, "serve", "--data-dir", self.data_dir, "--http", "127.0.0.1:0"]
        self.proc = subprocess.Popen(args + self.extra_args, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=self.env)
        self.log_lines = []
        self.port = None
        log = watch_log(f"confab --data-dir {self.data_dir} (pid {self.proc.pid})", self.proc,
                        self.log_lines)
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError("confab exited: " + "".join(self.log_lines))
                continue
            self.log_lines.append(line)
            m = re.search(r'"admin_account_id":"(\w+)","api_key":"(\w+)"', line)
            if m:
                self.admin_account, self.admin_key = m.group(1), m.group(2)
            m = SIP_LISTENING.search(line)
            if m:
                self.sip_port = int(m.group(2))
            m = LISTENING.search(line)
            if m:
                self.port = int(m.group(2))
                break
        else:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("confab did not start: " + "".join(self.log_lines))
        # Drain the log in the background so the pipe never fills.
        import threading
        reader = threading.Thread(target=self._drain, daemon=True)
        reader.start()
        log.reader = reader
        while time.time() < deadline:
            if self.request("GET", "/healthz").status == 200:
                return self
            time.sleep(0.05)
        raise RuntimeError("healthz never answered 200")

    def _drain(self):
        for line in self.proc.stdout:
            self.log_lines.append(line)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode if self.proc else None

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def request(self, method, path, body=None, token=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            req.add_header("X-Auth-Token", token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, content, headers = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            status, content, headers = e.code, e.read(), dict(e.headers)
        return Response(status, content.decode(errors="replace"), headers, content)

    # Conveniences used by most tests.
    def token_for_key(self, api_key):
        r = self.request("PUT", "/v2/api_auth", {"data": {"api_key": api_key}})
        assert r.status == 201, r
        return r.json["auth_token"]

    def admin_token(self):
        return self.token_for_key(self.admin_key)

    def new_account(self, name):
        """Creates an account through the API; returns (account_id, token)."""
        r = self.request("PUT", "/v2/accounts", {"data": {"name": name}}, token=self.admin_token())
        assert r.status == 201, r
        return r.data["id"], self.token_for_key(r.data["api_key"])


def error_data(r, status, message):
    """Checks Kazoo's error envelope (status, error code, message, request id); returns data."""
    assert r.status == status, r
    j = r.json
    assert j is not None, r
    assert j["status"] == "error", r
    assert j["error"] == str(status), r
    assert j["message"] == message, r
    assert isinstance(j["request_id"], str) and j["request_id"], r
    return j["data"]


def ok(r, status=200):
    """Checks Kazoo's success envelope; returns data."""
    assert r.status == status, r
    assert r.json["status"] == "success", r
    return r.data


def create_account_offline(data_dir, name):
    out = subprocess.run([BIN, "account", "create", "--name", name, "--data-dir", str(data_dir)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@contextlib.contextmanager
def running(data_dir, extra_args=(), config=None):
    """A started server, stopped on leaving, which must then exit 0. `config`: TOML text for
    --config, written next to the data dir."""
    args = list(extra_args)
    if config is not None:
        path = os.path.join(os.path.dirname(str(data_dir)), "confab.toml")
        with open(path, "w") as f:
            f.write(config)
        args += ["--config", path]
    s = Server(data_dir, extra_args=args).start()
    try:
        yield s
    finally:
        code = s.stop()
    assert code == 0, "confab did not exit cleanly on SIGTERM:\n" + "".join(s.log_lines[-50:])


@pytest.fixture
def server(tmp_path):
    with running(tmp_path / "var") as s:
        yield s


@pytest.fixture
def account(server):
    """A fresh account: (account_id, token)."""
    return server.new_account("acme")


def ws_connect(server, path="/v2/websocket", timeout=5):
    import websocket  # Debian's python3-websocket
    return websocket.create_connection(f"ws://127.0.0.1:{server.port}{path}", timeout=timeout)
