"""Configuration sources and process lifecycle: TOML file < CONFAB_* environment < command-line
flags; startup errors that name the problem; /healthz; clean exit on SIGINT and SIGTERM."""
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import BIN, LISTENING, Server, free_port, running, watch_log

GREGORIAN_OFFSET = 62167219200


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFAB_")}
    env["CONFAB_SIP"] = "127.0.0.1:0"  # never the default 5060, which another server may hold
    env.update(extra)
    return env


class Proc:
    """A confab process started with exactly the given arguments (no implicit --http)."""

    def __init__(self, args, env=None, cwd=None):
        self.proc = subprocess.Popen([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env or clean_env(), cwd=cwd)
        self.lines = []
        self.listening = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        watch_log(f"confab {' '.join(args)} (pid {self.proc.pid})", self.proc, self.lines,
                  self.reader)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if LISTENING.search(line):
                self.listening.set()

    def text(self):
        return "".join(self.lines)

    def wait_listening(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.listening.wait(0.05):
                m = LISTENING.search(self.text())
                return m.group(1), int(m.group(2))
            if self.proc.poll() is not None:
                self.reader.join(5)
                pytest.fail(f"confab exited with {self.proc.returncode}:\n{self.text()}")
        pytest.fail("confab did not start:\n" + self.text())

    def wait_exit(self, timeout=20):
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("confab kept running:\n" + self.text())
        self.reader.join(5)
        return code

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def get(port, path, host="127.0.0.1", method="GET", data=None, headers=None):
    req = urllib.request.Request(f"http://{host}:{port}{path}", data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def admin_key(proc):
    m = re.search(r'"admin_account_id":"(\w+)","api_key":"(\w+)"', proc.text())
    assert m, proc.text()
    return m.group(2)


def token_ttl_seen(port, key, host="127.0.0.1"):
    status, body, _ = get(port, "/v2/api_auth", host=host, method="PUT",
                          data=json.dumps({"data": {"api_key": key}}).encode())
    assert status == 201, body
    return json.loads(body)["data"]["expires"] - (time.time() + GREGORIAN_OFFSET)


def refused(port, host="127.0.0.1"):
    try:
        get(port, "/healthz", host=host)
    except (urllib.error.URLError, ConnectionError):
        return True
    return False


def write_toml(path, text):
    path.write_text(text)
    return str(path)


# --- precedence ------------------------------------------------------------------------------------

@pytest.mark.parametrize("winner", ["toml", "env", "flag"])
def test_flag_beats_env_beats_toml(tmp_path, winner):
    # Each source names another loopback address, all with port 0: the address in the log line
    # and the one that answers say which source won, and no port is raced for under ctest -j.
    hosts = {"toml": "127.0.0.2", "env": "127.0.0.3", "flag": "127.0.0.4"}
    ttls = {"toml": 120, "env": 300, "flag": 500}
    dirs = {k: tmp_path / f"data-{k}" for k in hosts}
    cfg = write_toml(tmp_path / "confab.toml", f"""
data_dir = "{dirs['toml']}"

[http]
listen = "{hosts['toml']}:0"

[auth]
token_ttl = {ttls['toml']}
""")
    args = ["serve", "--config", cfg]
    env = clean_env()
    if winner in ("env", "flag"):
        env.update(CONFAB_HTTP=f"{hosts['env']}:0", CONFAB_TOKEN_TTL=str(ttls["env"]),
                   CONFAB_DATA_DIR=str(dirs["env"]))
    if winner == "flag":
        args += ["--http", f"{hosts['flag']}:0", "--token-ttl", str(ttls["flag"]),
                 "--data-dir", str(dirs["flag"])]
    p = Proc(args, env=env)
    try:
        host, port = p.wait_listening()
        assert host == hosts[winner] and port > 0
        assert f"listening on http://{hosts[winner]}:{port} " in p.text()
        assert get(port, "/healthz", host=host)[:2] == (200, '{"status":"ok"}')
        for other, other_host in hosts.items():
            if other != winner:
                assert refused(port, host=other_host), other
        # The data dir of the winning source holds the store.
        assert (dirs[winner] / "confab.db").exists()
        assert [k for k in dirs if (dirs[k] / "confab.db").exists()] == [winner]
        # And its token lifetime is the one in force.
        ttl = token_ttl_seen(port, admin_key(p), host=host)
        assert ttls[winner] - 5 <= ttl <= ttls[winner] + 1, ttl
    finally:
        assert p.stop() == 0, p.text()


def test_an_explicit_port_is_the_port_bound(tmp_path):
    """--http HOST:PORT with a real port. The port is only known free a moment before the
    server binds it; if another test took it meanwhile, the server must say so and exit 1, and
    another port is tried."""
    for attempt in range(5):
        want = free_port()
        p = Proc(["serve", "--data-dir", str(tmp_path / f"var{attempt}"), "--http",
                  f"127.0.0.1:{want}"])
        deadline = time.time() + 20
        while p.proc.poll() is None and not p.listening.is_set() and time.time() < deadline:
            time.sleep(0.05)
        if not p.listening.is_set():
            code = p.wait_exit()
            assert code == 1 and "in use" in p.text().lower(), p.text()
            continue
        try:
            assert p.wait_listening() == ("127.0.0.1", want)
            assert get(want, "/healthz")[:2] == (200, '{"status":"ok"}')
        finally:
            assert p.stop() == 0, p.text()
        return
    pytest.fail("five free ports were all taken before the server could bind them")


def test_listen_log_line_names_the_bound_port(tmp_path):
    s = Server(tmp_path / "var").start()
    try:
        lines = [l for l in s.log_lines if "listening on" in l]
        assert len(lines) == 1
        assert f"listening on http://127.0.0.1:{s.port} " in lines[0]
        assert str(tmp_path / "var") in lines[0]
        # The port in the line is the one the process listens on (and not, say, the 0 asked for).
        assert s.port > 0 and s.port in listening_ports(s.proc.pid)
    finally:
        assert s.stop() == 0


def listening_ports(pid):
    """TCP ports in LISTEN state on sockets the process holds (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.read().splitlines()[1:]:
                cols = row.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    ports.add(int(cols[1].split(":")[1], 16))
    return ports


def test_port_zero_reports_the_real_port(tmp_path):
    p = Proc(["serve", "--data-dir", str(tmp_path / "var"), "--http", "127.0.0.1:0"])
    try:
        host, port = p.wait_listening()
        assert host == "127.0.0.1" and port > 0
        assert get(port, "/healthz")[0] == 200
    finally:
        assert p.stop() == 0


def test_env_only_configuration(tmp_path):
    env = clean_env(CONFAB_HTTP="127.0.0.1:0", CONFAB_DATA_DIR=str(tmp_path / "envdata"),
                    CONFAB_NODE="confab@test-node", CONFAB_TOKEN_TTL="77")
    p = Proc(["serve"], env=env, cwd=str(tmp_path))
    try:
        host, port = p.wait_listening()
        assert host == "127.0.0.1" and port > 0
        assert (tmp_path / "envdata" / "confab.db").exists()
        assert not (tmp_path / "var").exists()  # the default ./var was not used
        status, body, _ = get(port, "/v2/api_auth", method="PUT",
                              data=json.dumps({"data": {"api_key": admin_key(p)}}).encode())
        j = json.loads(body)
        assert status == 201 and j["node"] == "confab@test-node"
        assert 72 <= j["data"]["expires"] - (time.time() + GREGORIAN_OFFSET) <= 78
    finally:
        assert p.stop() == 0


def test_token_ttl_at_its_maximum_is_taken_from_the_environment(tmp_path):
    env = clean_env(CONFAB_HTTP="127.0.0.1:0", CONFAB_DATA_DIR=str(tmp_path / "envdata"),
                    CONFAB_TOKEN_TTL=str(2**30))
    p = Proc(["serve"], env=env, cwd=str(tmp_path))
    try:
        _, port = p.wait_listening()
        ttl = token_ttl_seen(port, admin_key(p))
        assert 2**30 - 5 <= ttl <= 2**30 + 1, ttl
    finally:
        assert p.stop() == 0


# --- startup errors ----------------------------------------------------------------------------

def _bad_toml(tmp_path, text):
    return write_toml(tmp_path / "bad.toml", text)


BAD_STARTS = [
    # (id, args builder, env, text the output must contain)
    ("port_too_big", lambda t: ["--http", "127.0.0.1:99999"], {}, "bad port in 127.0.0.1:99999"),
    ("port_not_number", lambda t: ["--http", "127.0.0.1:http"], {}, "bad port in 127.0.0.1:http"),
    ("no_port", lambda t: ["--http", "localhost"], {}, "expected host:port, got localhost"),
    ("env_bad_http", lambda t: [], {"CONFAB_HTTP": "nonsense"}, "expected host:port, got nonsense"),
    ("env_bad_port", lambda t: [], {"CONFAB_HTTP": "127.0.0.1:-1"}, "bad port in 127.0.0.1:-1"),
    ("toml_bad_port", lambda t: ["--config", _bad_toml(t, '[http]\nlisten = "127.0.0.1:70000"\n')],
     {}, "bad port in 127.0.0.1:70000"),
    ("toml_syntax", lambda t: ["--config", _bad_toml(t, '[http\nlisten = "127.0.0.1:1"\n')], {},
     "bad.toml"),
    ("toml_garbage", lambda t: ["--config", _bad_toml(t, "this is = = not toml\n")], {},
     "bad.toml"),
    ("config_missing", lambda t: ["--config", str(t / "nope.toml")], {}, "nope.toml"),
    ("env_bad_ttl", lambda t: [], {"CONFAB_TOKEN_TTL": "soon"},
     "CONFAB_TOKEN_TTL: not a positive number: soon"),
    # The token lifetime has one upper bound, 2^30 s, whichever source sets it.
    ("env_ttl_too_big", lambda t: [], {"CONFAB_TOKEN_TTL": str(2**30 + 1)},
     "CONFAB_TOKEN_TTL: 1073741825 is over the maximum of 1073741824 seconds"),
    ("env_ttl_past_int", lambda t: [], {"CONFAB_TOKEN_TTL": str(2**31)},
     "CONFAB_TOKEN_TTL: 2147483648 is over the maximum of 1073741824 seconds"),
    ("env_ttl_past_long", lambda t: [], {"CONFAB_TOKEN_TTL": "9" * 30},
     "CONFAB_TOKEN_TTL: " + "9" * 30 + " is over the maximum of 1073741824 seconds"),
    ("toml_ttl_too_big", lambda t: ["--config", _bad_toml(
        t, f'[http]\nlisten = "127.0.0.1:0"\n[auth]\ntoken_ttl = {2**30 + 1}\n')],
     {}, "auth.token_ttl must be between 1 and 1073741824"),
    ("flag_ttl_too_big", lambda t: ["--token-ttl", str(2**30 + 1)], {}, "--token-ttl"),
    ("env_zero_body_limit", lambda t: [], {"CONFAB_BODY_LIMIT": "0"}, "CONFAB_BODY_LIMIT"),
    ("flag_zero_ttl", lambda t: ["--token-ttl", "0"], {}, "--token-ttl"),
    ("env_bad_upload_limit", lambda t: [], {"CONFAB_MEDIA_UPLOAD_LIMIT": "16M"},
     "CONFAB_MEDIA_UPLOAD_LIMIT: not a positive number: 16M"),
    ("flag_zero_upload_limit", lambda t: ["--media-upload-limit", "0"], {}, "--media-upload-limit"),
    ("flag_bad_log_level", lambda t: ["--log-level", "loud"], {}, "log_level: unknown level loud"),
    ("unknown_flag", lambda t: ["--frobnicate"], {}, "frobnicate"),
    ("bad_host", lambda t: ["--http", "999.1.1.1:80"], {}, "999.1.1.1"),
    # Values of the wrong type or range are errors too, not silently ignored or taken as is.
    ("toml_ttl_not_a_number", lambda t: ["--config", _bad_toml(
        t, f'[http]\nlisten = "127.0.0.1:0"\n[auth]\ntoken_ttl = "60"\n')],
     {}, "token_ttl"),
    ("toml_ttl_not_positive", lambda t: ["--config", _bad_toml(
        t, f'[http]\nlisten = "127.0.0.1:0"\n[auth]\ntoken_ttl = -5\n')],
     {}, "token_ttl"),
    ("toml_upload_limit_not_positive", lambda t: ["--config", _bad_toml(
        t, f'[http]\nlisten = "127.0.0.1:0"\n[media]\nupload_limit = 0\n')],
     {}, "media.upload_limit must be positive"),
    ("toml_listen_not_a_string", lambda t: ["--config", _bad_toml(t, "[http]\nlisten = 8080\n")],
     {"CONFAB_HTTP": "127.0.0.1:0"}, "listen"),
    ("toml_realtime_priority_too_big", lambda t: ["--config", _bad_toml(
        t, f'[http]\nlisten = "127.0.0.1:0"\n[media]\nrealtime_priority = 100\n')],
     {}, "media.realtime_priority"),
]


@pytest.mark.parametrize("name,build,env,needle", BAD_STARTS, ids=[b[0] for b in BAD_STARTS])
def test_bad_configuration_exits_nonzero_naming_the_problem(tmp_path, name, build, env, needle):
    args = ["serve", "--data-dir", str(tmp_path / "var")] + build(tmp_path)
    if not any(a == "--http" for a in args) and "CONFAB_HTTP" not in env and \
            not name.startswith("toml_"):
        args += ["--http", "127.0.0.1:0"]
    p = Proc(args, env=clean_env(**env))
    # The server must exit by itself with a failure status (1 from main(), 1xx from CLI11 for a
    # bad flag): it is not killed here (wait_exit fails the test if it keeps running), so a
    # positive code can only be its own; a signal would show as a negative one.
    code = p.wait_exit(timeout=20)
    assert not p.listening.is_set(), f"{name}: the server started anyway:\n{p.text()}"
    assert code > 0, f"{name}: exited {code}\n{p.text()}"
    assert needle in p.text(), f"{name}: {needle!r} not in output:\n{p.text()}"


def test_port_in_use_fails_cleanly(tmp_path):
    s = Server(tmp_path / "one").start()
    try:
        p = Proc(["serve", "--data-dir", str(tmp_path / "two"), "--http", f"127.0.0.1:{s.port}"])
        code = p.wait_exit(timeout=15)
        assert code != 0
        assert "in use" in p.text().lower(), p.text()
        assert s.request("GET", "/healthz").status == 200  # the first server is unaffected
    finally:
        assert s.stop() == 0


def test_version_and_missing_subcommand():
    out = subprocess.run([BIN, "version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert re.match(r"^\d+\.\d+\.\d+", out.stdout.strip()), out.stdout
    out2 = subprocess.run([BIN], capture_output=True, text=True, timeout=10)
    assert out2.returncode != 0
    assert "subcommand" in (out2.stdout + out2.stderr).lower()


def test_version_matches_envelope(server):
    out = subprocess.run([BIN, "version"], capture_output=True, text=True, timeout=10)
    r = server.request("PUT", "/v2/api_auth", {"data": {"api_key": server.admin_key}})
    assert r.json["version"] == out.stdout.strip()


# --- healthz and signals ----------------------------------------------------------------------------

def test_healthz(server):
    status, body, headers = get(server.port, "/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers["Content-Type"] == "application/json"
    # No token needed, query strings ignored.
    assert get(server.port, "/healthz?verbose=1")[:2] == (200, '{"status":"ok"}')


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signals_exit_zero(tmp_path, sig):
    s = Server(tmp_path / "var").start()
    account_id, token = s.new_account("acme")
    r = s.request("PUT", f"/v2/accounts/{account_id}/conferences", {"data": {"name": "kept"}},
                  token=token)
    assert r.status == 201
    code = s.stop(sig)
    assert code == 0, "".join(s.log_lines)
    log = "".join(s.log_lines)
    assert f"signal {int(sig)}: shutting down" in log
    assert log.rstrip().endswith("stopped")
    # The write made before the signal is there after a restart.
    s2 = Server(tmp_path / "var").start()
    try:
        r = s2.request("GET", f"/v2/accounts/{account_id}/conferences", token=token)
        assert [c["name"] for c in r.data] == ["kept"]
    finally:
        assert s2.stop(sig) == 0


def test_signal_with_open_connections_still_exits_zero(tmp_path):
    """Idle keep-alive and WebSocket clients must not keep the process from exiting."""
    import socket
    from conftest import ws_connect
    s = Server(tmp_path / "var").start()
    idle = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(4096).startswith(b"HTTP/1.1 200")
    half = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    half.sendall(b"GET /healthz HTTP/1.1\r\nHo")
    ws = ws_connect(s)
    try:
        assert s.stop(signal.SIGTERM, timeout=15) == 0
    finally:
        idle.close()
        half.close()
        try:
            ws.close()
        except Exception:
            pass


def _fifo_threads(pid):
    """Names of the process's threads that run SCHED_FIFO (policy 1 in /proc/<pid>/task/*/stat)."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[38] == "1":  # field 41 of stat(5), counted from after the name
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                out.append(f.read().strip())
    return out


def test_realtime_priority_puts_the_shard_threads_on_sched_fifo(tmp_path):
    # Needs root or CAP_SYS_NICE (the suite runs as root in CI); without it the server says so.
    with running(tmp_path / "var", config="[media]\nshards = 2\nrealtime_priority = 10\n") as s:
        granted = any("run SCHED_FIFO priority 10" in line for line in s.log_lines)
        refused = any("realtime_priority 10 not granted" in line for line in s.log_lines)
        assert granted != refused, s.log_lines
        assert len(_fifo_threads(s.proc.pid)) == (2 if granted else 0)
    with running(tmp_path / "var2") as s:
        assert _fifo_threads(s.proc.pid) == []
