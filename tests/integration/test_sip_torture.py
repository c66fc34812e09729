"""RFC 4475's torture messages (tests/data/rfc4475, written from the RFC's text) sent to the real
endpoint one datagram each: every valid request is handled (its final answer is the one a UAS
owes it, never 400), every invalid one gets a 4xx/5xx or nothing, responses to nobody are
dropped, and the server answers /healthz after each."""
import os
import re
import socket

import pytest

from conftest import ROOT, running

DATA = os.path.join(ROOT, "tests", "data", "rfc4475")


def cases():
    out = []
    with open(os.path.join(DATA, "expected.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, section, answers = line.rstrip("\n").split("\t")
            out.append((name, section, set(answers.split(","))))
    return out


CASES = cases()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running(tmp_path_factory.mktemp("torture") / "var") as s:
        yield s


def answers_to(port, data):
    """The SIP responses to `data` that arrive within the window. Only those naming its Call-ID
    count: a port the kernel hands out again may still get another test's datagrams (a repeated
    404, RTP from a media test running beside this one)."""
    m = re.search(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)", data)
    mine = (lambda d: m.group(1) in d) if m else (lambda d: True)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.6)
    s.sendto(data, ("127.0.0.1", port))
    got = []
    try:
        while True:
            got.append(s.recvfrom(65535)[0])
            s.settimeout(0.2)  # a second answer, if one comes, comes at once
    except socket.timeout:
        pass
    finally:
        s.close()
    # Timer G repeats a 404 after 500 ms; within the window above only first answers arrive.
    return [d for d in got if d.startswith(b"SIP/2.0 ") and mine(d)]


def test_every_message_of_the_rfc_is_here():
    assert len(CASES) == 49
    assert sorted(f[:-4] for f in os.listdir(DATA) if f.endswith(".dat")) == \
        sorted(name for name, _, _ in CASES)


@pytest.mark.parametrize("name,section,allowed", CASES, ids=[c[0] for c in CASES])
def test_torture_message(server, name, section, allowed):
    with open(os.path.join(DATA, name + ".dat"), "rb") as f:
        data = f.read()
    got = answers_to(server.sip_port, data)
    codes = sorted({int(m.split(b" ", 2)[1]) for m in got})
    if not got:
        assert "none" in allowed, f"{name} (RFC 4475 {section}) got no answer"
    else:
        assert len(codes) == 1, f"{name}: answered {codes}"
        assert str(codes[0]) in allowed, f"{name} (RFC 4475 {section}) got {codes[0]}: {got[0][:300]!r}"
        if section.startswith("3.1.1"):
            assert codes[0] != 400
        if codes[0] in (400, 415, 416, 505):
            assert b"\r\nWarning: 399 " in got[0], got[0]  # what is wrong, named
    assert server.request("GET", "/healthz").status == 200


def test_nothing_is_left_behind(server):
    m = server.request("GET", "/metrics").json["sip"]
    assert m["dialogs"] == 0
