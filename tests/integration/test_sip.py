"""The SIP endpoint of the real binary, driven by sipp (Debian sip-tester) and by raw datagrams:
OPTIONS, INVITE to an unknown number, INVITE retransmission, CANCEL, BYE outside a dialog,
malformed requests, per-source rate limiting, TCP, and the counters in /metrics."""
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import ROOT, running

SIPP = shutil.which("sipp")
SCENARIOS = os.path.join(ROOT, "tests", "data", "sipp")
pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (sip-tester) is not installed")


def sipp(server, scenario, tmp_path, calls=1, transport="u1", service="4000", rate=10, extra=()):
    """Runs a sipp client scenario against the server; returns (exit code, output). sipp exits 0
    only when every call went through the scenario as written."""
    args = [SIPP, f"127.0.0.1:{server.sip_port}", "-sf", os.path.join(SCENARIOS, scenario),
            "-i", "127.0.0.1", "-m", str(calls), "-r", str(rate), "-s", service, "-t", transport,
            "-nostdin", "-timeout", "30s", "-timeout_error", "-recv_timeout", "5000",
            "-trace_err"] + list(extra)
    p = subprocess.run(args, cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    errors = ""
    for f in os.listdir(tmp_path):
        if f.endswith("_errors.log"):
            with open(os.path.join(tmp_path, f), errors="replace") as fh:
                errors += fh.read()[-3000:]
    return p.returncode, p.stdout[-2000:] + errors


def metrics(server):
    r = server.request("GET", "/metrics")
    assert r.status == 200, r
    return r.json["sip"]


def udp_exchange(port, data, wait=0.5, source="127.0.0.1"):
    """Sends one datagram; returns the SIP responses that come back within `wait` seconds (a
    reused port may get other tests' datagrams: those are not ours)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(wait)
    s.sendto(data, ("127.0.0.1", port))
    got = []
    try:
        while True:
            got.append(s.recvfrom(65535)[0])
            s.settimeout(0.15)
    except socket.timeout:
        pass
    finally:
        s.close()
    return [d for d in got if d.startswith(b"SIP/2.0 ")]


def options(branch, source_port=5060, tag="t1"):
    return (f"OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{source_port};branch=z9hG4bK-{branch};rport\r\n"
            f"From: <sip:probe@127.0.0.1>;tag={tag}\r\nTo: <sip:probe@127.0.0.1>\r\n"
            f"Call-ID: {branch}@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running(tmp_path_factory.mktemp("sip") / "var") as s:
        assert s.sip_port, "the server did not log its SIP port"
        yield s


def test_options_answered_over_udp_and_tcp(server, tmp_path):
    before = metrics(server)["requests"]["options"]
    code, out = sipp(server, "options.xml", tmp_path, calls=5)
    assert code == 0, out
    code, out = sipp(server, "options.xml", tmp_path, calls=3, transport="t1")
    assert code == 0, out
    assert metrics(server)["requests"]["options"] >= before + 8
    assert metrics(server)["tcp"]["accepted"] >= 1


def test_invite_to_an_unknown_number_gets_404(server, tmp_path):
    before = metrics(server)
    code, out = sipp(server, "invite_404.xml", tmp_path, calls=20, rate=50)
    assert code == 0, out
    m = metrics(server)
    assert m["calls"]["started"] == before["calls"]["started"] + 20
    assert m["dialogs"] == 0  # rejected calls leave nothing behind


def test_invite_retransmission_is_absorbed(server, tmp_path):
    before = metrics(server)
    # -nr: sipp answers a repeated response by repeating its own last message, and the endpoint
    # answers a repeated INVITE with its last response: without it the two would ping-pong.
    code, out = sipp(server, "invite_retransmitted.xml", tmp_path, calls=3, extra=["-nr"])
    assert code == 0, out
    m = metrics(server)
    # Six INVITEs reached the endpoint, three calls the application.
    assert m["requests"]["invite"] == before["requests"]["invite"] + 6
    assert m["calls"]["started"] == before["calls"]["started"] + 3
    assert m["retransmissions_absorbed"] >= before["retransmissions_absorbed"] + 3


def test_cancel_of_an_answered_invite_and_of_nothing(server, tmp_path):
    before = metrics(server)["not_found_481"]
    code, out = sipp(server, "cancel.xml", tmp_path, calls=2)
    assert code == 0, out
    assert metrics(server)["not_found_481"] == before + 2


def test_bye_outside_a_dialog_is_481(server, tmp_path):
    code, out = sipp(server, "bye_unknown.xml", tmp_path, calls=2)
    assert code == 0, out


def test_malformed_request_gets_400_with_a_warning(server, tmp_path):
    before = metrics(server)["malformed"]
    code, out = sipp(server, "malformed.xml", tmp_path, calls=2)
    assert code == 0, out
    assert metrics(server)["malformed"] == before + 2
    # Garbage nothing can be answered with is dropped, and counted.
    dropped = metrics(server)["malformed_dropped"]
    assert udp_exchange(server.sip_port, b"\x00\x01garbage\r\n\r\n") == []
    assert metrics(server)["malformed_dropped"] == dropped + 1
    assert server.request("GET", "/healthz").status == 200


def test_metrics_show_the_endpoint(server):
    m = metrics(server)
    for key in ("dialogs", "transactions", "requests", "malformed", "rate_limit", "udp", "tcp",
                "calls", "retransmissions_absorbed"):
        assert key in m, key
    assert m["udp"]["received"] > 0 and m["udp"]["sent"] > 0


def test_rate_limit_refuses_then_drops_a_flooding_source_only(tmp_path):
    config = "[sip]\nrate_per_source = 5\nburst_per_source = 5\n"
    with running(tmp_path / "var", config=config) as s:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        for i in range(40):
            sock.sendto(options(f"flood-{i}", port), ("127.0.0.1", s.sip_port))
        codes = []
        sock.settimeout(1.0)
        try:
            while True:
                d = sock.recvfrom(65535)[0]
                if not (d.startswith(b"SIP/2.0 ") and b"z9hG4bK-flood-" in d):
                    continue  # not an answer to the flood (a reused port's leftovers)
                codes.append(int(d.split(b" ")[1]))
                if int(d.split(b" ")[1]) == 503:
                    assert b"\r\nRetry-After: 5\r\n" in d
                sock.settimeout(0.3)
        except socket.timeout:
            pass
        sock.close()
        assert codes.count(200) >= 5
        assert codes.count(503) >= 1
        assert len(codes) < 40  # the rest of the flood was dropped unanswered
        # Another address is not affected.
        got = udp_exchange(s.sip_port, options("other", 5060), source="127.0.0.2")
        assert len(got) == 1 and got[0].startswith(b"SIP/2.0 200 ")
        m = metrics(s)["rate_limit"]
        assert m["refused"] >= 1 and m["dropped"] >= 1 and m["limited_sources"] == 1
        assert any("127.0.0.1 is over 5 messages/s" in line and "refusing" in line
                   for line in s.log_lines)


def test_sip_can_be_turned_off(tmp_path):
    with running(tmp_path / "var", extra_args=["--sip", ""]) as s:
        assert s.sip_port is None
        assert "sip" not in s.request("GET", "/metrics").json
