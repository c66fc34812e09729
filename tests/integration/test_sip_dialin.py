"""SIP dial-in through the conference bridge (src/app/sip_bridge.cpp), driven by sipp: a caller
dials a conference number, sends its PIN as RFC 4733 events and becomes a participant that the
Kazoo REST API shows with its Call-ID and caller id; its BYE makes it leave; three wrong PINs end
the call and count on the shared lockout; an unknown number gets 404; a REST kick sends BYE."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import ROOT, ok, running
from media_room import Room
from rtp_peer import Peer, Pcmu, goertzel, run, tone

SIPP = shutil.which("sipp")
SCENARIOS = os.path.join(ROOT, "tests", "data", "sipp")
pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (sip-tester) is not installed")


def start_sipp(server, scenario, tmp_path, service, media_port):
    args = [SIPP, f"127.0.0.1:{server.sip_port}", "-sf", os.path.join(SCENARIOS, scenario),
            "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", str(media_port), "-m", "1",
            "-s", service, "-t", "u1", "-nostdin", "-timeout", "40s", "-timeout_error",
            "-recv_timeout", "25000", "-trace_err"]
    return subprocess.Popen(args, cwd=str(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(p, tmp_path):
    out, _ = p.communicate(timeout=60)
    for f in os.listdir(tmp_path):
        if f.endswith("_errors.log"):
            with open(os.path.join(tmp_path, f), errors="replace") as fh:
                out += fh.read()[-3000:]
    return p.returncode, out[-3000:]


def dialogs(server):
    r = server.request("GET", "/metrics")
    assert r.status == 200, r
    return r.json["sip"]["dialogs"]


def wait_for(pred, seconds=15):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return pred()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running(tmp_path_factory.mktemp("dialin") / "var") as s:
        assert s.sip_port, "the server did not log its SIP port"
        yield s


class Api:
    def __init__(self, server):
        self.s = server
        self.account_id, self.token = server.new_account("dialin")
        self.base = f"/v2/accounts/{self.account_id}/conferences"

    def req(self, method, path="", body=None):
        return self.s.request(method, self.base + path, body, token=self.token)

    def create(self, **data):
        return ok(self.req("PUT", "", {"data": data}), 201)["id"]

    def participants(self, cid):
        return ok(self.req("GET", f"/{cid}/participants"))


@pytest.fixture(scope="module")
def api(server):
    return Api(server)


def test_caller_with_pin_joins_then_leaves(server, api, tmp_path):
    cid = api.create(name="Dial", conference_numbers=["5101"], member={"pins": ["1234"]},
                     play_welcome=False)
    p = start_sipp(server, "dialin_pin_bye.xml", tmp_path, "5101", 16100)
    try:
        joined = wait_for(lambda: api.participants(cid), 20)
        assert len(joined) == 1, joined
        who = joined[0]
        assert who["caller_id_name"] == "Alice Caller"
        assert who["caller_id_number"] == "+15550001"
        assert who["call_id"].endswith("@127.0.0.1"), who  # sipp's Call-ID
        assert dialogs(server) == 1
    finally:
        code, out = finish(p, tmp_path)
    assert code == 0, out
    assert wait_for(lambda: api.participants(cid) == [], 5), api.participants(cid)
    assert wait_for(lambda: dialogs(server) == 0, 5)


def test_pin_over_sip_info_joins(server, api, tmp_path):
    cid = api.create(name="Info", conference_numbers=["5105"], member={"pins": ["1234"]},
                     play_welcome=False)
    p = start_sipp(server, "dialin_info_bye.xml", tmp_path, "5105", 16500)
    try:
        joined = wait_for(lambda: api.participants(cid), 20)
        assert len(joined) == 1 and joined[0]["caller_id_number"] == "+15550001", joined
    finally:
        code, out = finish(p, tmp_path)
    assert code == 0, out
    assert wait_for(lambda: api.participants(cid) == [], 5)
    assert wait_for(lambda: dialogs(server) == 0, 5)


def test_three_wrong_pins_end_the_call_and_lock_out(server, api, tmp_path):
    cid = api.create(name="Guarded", conference_numbers=["5102"], member={"pins": ["1234"]},
                     play_welcome=False)
    p = start_sipp(server, "dialin_bad_pin.xml", tmp_path, "5102", 16200)
    code, out = finish(p, tmp_path)
    assert code == 0, out  # the server sent BYE after the third wrong PIN
    assert api.participants(cid) == []
    ro = ok(api.req("GET", f"/{cid}"))["_read_only"]
    assert ro["bad_pin_attempts"] >= 3, ro
    assert wait_for(lambda: dialogs(server) == 0, 5)


def test_unknown_number_gets_404(server, tmp_path):
    code = subprocess.run(
        [SIPP, f"127.0.0.1:{server.sip_port}", "-sf", os.path.join(SCENARIOS, "invite_404.xml"),
         "-i", "127.0.0.1", "-m", "1", "-s", "5999", "-t", "u1", "-nostdin", "-timeout", "20s",
         "-timeout_error"], cwd=str(tmp_path), capture_output=True, timeout=40).returncode
    assert code == 0
    assert dialogs(server) == 0


def test_kick_through_rest_sends_bye(server, api, tmp_path):
    cid = api.create(name="Kick", conference_numbers=["5103"], member={"pins": ["1234"]},
                     play_welcome=False)
    p = start_sipp(server, "dialin_pin_wait_bye.xml", tmp_path, "5103", 16300)
    try:
        joined = wait_for(lambda: api.participants(cid), 20)
        assert len(joined) == 1, joined
        pid = joined[0]["participant_id"]
        time.sleep(1.0)  # sipp must be past its last pause, waiting for the BYE
        r = api.req("PUT", f"/{cid}/participants/{pid}", {"data": {"action": "kick"}})
        assert r.status == 202, r
    finally:
        code, out = finish(p, tmp_path)
    assert code == 0, out  # sipp got the BYE and answered it
    assert api.participants(cid) == []
    assert wait_for(lambda: dialogs(server) == 0, 5)


def test_room_hears_the_caller_only_once_joined(server, api, tmp_path):
    """A plain RTP peer in the room: the caller's 1 kHz tone is not mixed while the IVR has the
    call, and is once the PIN has made it a participant."""
    with open(tmp_path / "tone.ulaw", "wb") as f:
        f.write(Pcmu().encode(tone(1000, 6000, 0, n=8000 * 20)))
    room = Room(server, (api.account_id, api.token),
                {"name": "Hear", "conference_numbers": ["5104"],
                 "member": {"pins": ["1234"], "join_muted": False}, "play_welcome": False})
    listener = Peer(440)
    room.join(listener, "listener", pin="1234")
    p = start_sipp(server, "dialin_tone.xml", tmp_path, "5104", 16400)
    try:
        assert wait_for(lambda: dialogs(server) == 1, 10)
        run([listener], 1.0)
        assert goertzel(listener.recent(), 1000) < 40, "the caller is mixed before its join"
        assert wait_for(lambda: len(api.participants(room.id)) == 2, 20)
        listener.heard.clear()
        run([listener], 1.5)
        assert goertzel(listener.recent(), 1000) > 300, "the joined caller is not heard"
    finally:
        code, out = finish(p, tmp_path)
    assert code == 0, out
    assert wait_for(lambda: len(api.participants(room.id)) == 1, 5)
