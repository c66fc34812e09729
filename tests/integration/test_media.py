"""Mixed audio through the real binary: participants join over REST with an SDP offer and talk
plain RTP (G.711) from UDP sockets of this test. Assertions are on the decoded signal."""
import json
import socket
import struct
import time

import pytest

from conftest import Server, running, ws_connect
from media_room import Room
from rtp_peer import Peer, goertzel, offer, run

TONES = (400, 1000, 1600)


@pytest.fixture
def peers():
    made = [Peer(hz) for hz in TONES]
    yield made
    for p in made:
        p.close()


def hears(peer, hz):
    return goertzel(peer.recent(), hz) > 300  # -20 dB of the tone sent (6000: Goertzel 3000)


def silent(peer, hz):
    """Not heard: below -37 dB of the tone sent, where G.711's quantisation noise of a mix sits
    (the engine tests' threshold); a voice that leaks at -21 dB is caught, not passed as "not
    heard" the way `not hears()` would."""
    return goertzel(peer.recent(), hz) < 40


def test_everyone_hears_the_others_never_themselves(server, account, peers):
    room = Room(server, account)
    for i, p in enumerate(peers):
        room.join(p, f"p{i}")
    run(peers, 1.5)
    for p in peers:
        assert len(p.heard) > 8000, f"{p.hz} Hz peer got {len(p.heard)} samples"
        for other in TONES:
            power = goertzel(p.recent(), other)
            if other == p.hz:
                assert power < 40, f"{p.hz} Hz hears itself ({power:.0f})"
            else:
                assert power > 300, f"{p.hz} Hz does not hear {other} Hz ({power:.0f})"


def test_mute_deaf_and_kick_act_on_what_is_heard(server, account, peers):
    room = Room(server, account)
    a, b, c = peers
    pa, pb, pc = (room.join(p, n) for p, n in ((a, "a"), (b, "b"), (c, "c")))
    run(peers, 1.0)
    assert hears(a, b.hz) and hears(c, b.hz)

    room.act(pb, "mute")
    for p in peers:
        p.heard.clear()
    run(peers, 1.0)
    assert silent(a, b.hz) and silent(c, b.hz), "a muted participant is still mixed"
    assert hears(b, a.hz), "muted, but still hearing"
    room.act(pb, "unmute")

    room.act(pc, "deaf")
    for p in peers:
        p.heard.clear()
    run(peers, 1.0)
    assert max(abs(x) for x in c.recent()) < 64, "a deaf participant hears something"
    assert hears(a, b.hz), "b is back after unmute"
    assert hears(a, c.hz), "deaf, but still heard"
    room.act(pc, "undeaf")
    for p in peers:
        p.heard.clear()
    run(peers, 1.0)
    assert hears(c, a.hz), "c hears again after undeaf"

    room.act(pa, "kick")
    run(peers, 0.3)
    a.heard.clear()
    a.packets = 0
    run(peers, 0.6, senders=[b, c])
    assert a.packets == 0, "a kicked participant still receives media"
    assert room.participant(pa) is None


def test_talking_is_detected_and_reported(server, account, peers):
    room = Room(server, account)
    ws = ws_connect(server)
    ws.send(json.dumps({"action": "subscribe", "auth_token": room.token,
                        "data": {"account_id": room.acct, "binding": f"conference.event.{room.id}.*"}}))
    assert json.loads(ws.recv())["status"] == "success"
    loud, quiet = Peer(1000, 8000), Peer(0)
    try:
        pl = room.join(loud, "loud")
        room.join(quiet, "quiet")
        run([loud, quiet], 1.0)
        during = room.participant(pl)
        run([loud, quiet], 1.2, senders=[quiet])  # the loud one stops: ~800 ms hangover
        names = []
        ws.settimeout(3)
        while "stop-talking" not in names:
            ev = json.loads(ws.recv())
            names.append(ev["name"])
            if ev["name"] in ("start-talking", "stop-talking", "floor-change"):
                assert ev["data"]["participant_id"] == pl
        assert "start-talking" in names and "floor-change" in names
        assert names.index("start-talking") < names.index("stop-talking")
        assert during["talking"] is True and during["floor"] is True
        assert during["current_energy"] > 1000
        assert room.participant(pl)["talking"] is False
    finally:
        loud.close()
        quiet.close()
        ws.close()


def test_mute_detect_reports_talking_into_a_muted_line_without_mixing_it(server, account):
    room = Room(server, account, {"member": {"join_muted": True}})  # members join muted
    detected, plain, listener = Peer(1000, 8000), Peer(1600, 8000), Peer(0)
    try:
        pd = room.join(detected, "detected", mute_detect=True)
        pp = room.join(plain, "plain")
        room.join(listener, "listener")
        run([detected, plain, listener], 1.2)
        d, p = room.participant(pd), room.participant(pp)
        assert d["speak"] is False and d["mute_detect"] is True
        assert d["talking"] is True, "mute_detect: a muted member talking is not detected"
        assert p["talking"] is False, "without mute_detect a muted member is not even decoded"
        assert goertzel(listener.recent(), 1000) < 60, "a mute-detected member is mixed"
        r = server.request("POST", room.base + "/participants",
                           {"data": {"name": "x", "mute_detect": "yes"}}, token=room.token)
        assert r.status == 400 and "mute_detect" in r.json["data"], r
    finally:
        for peer in (detected, plain, listener):
            peer.close()


def test_dtmf_from_rfc4733_is_an_event(server, account):
    room = Room(server, account)
    ws = ws_connect(server)
    ws.send(json.dumps({"action": "subscribe", "auth_token": room.token,
                        "data": {"account_id": room.acct, "binding": f"conference.event.{room.id}.*"}}))
    json.loads(ws.recv())
    p = Peer(0)
    try:
        room.join(p, "keys")
        run([p], 0.2)
        p.send_dtmf(11)  # '#'
        run([p], 0.2)
        p.send_dtmf(5)
        run([p], 0.2)
        ws.settimeout(3)
        digits = []
        while len(digits) < 2:
            ev = json.loads(ws.recv())
            if ev["name"] == "dtmf":
                digits.append(ev["data"]["dtmf_digit"])
        assert digits == ["#", "5"]  # each event once, though sent as three packets
    finally:
        p.close()
        ws.close()


def test_unsupported_offers_are_refused_naming_why_and_leave_nothing(server, account):
    room = Room(server, account)
    cases = [
        (offer(4000, "18").replace("a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:18 G729/8000\r\n"),
         "no supported codec"),
        ("v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 4000 RTP/AVP 96\r\n", "no audio stream"),
        (offer(0), "port 0"),
        (offer(4000).replace("RTP/AVP", "UDP/TLS/RTP/SAVPF"), "unsupported transport"),
        (offer(4000).replace("IN IP4 127.0.0.1", "IN IP6 ::1"), "not an IPv4 address"),
    ]
    for sdp, why in cases:
        r = server.request("POST", room.base + "/participants", {"data": {"name": "x", "sdp": sdp}},
                           token=room.token)
        assert r.status == 415, r
        assert r.json["message"] == "not_acceptable_here"
        assert why in r.json["data"]["message"], (why, r.json)
        assert r.json["data"]["sip_code"] == 488
    r = server.request("GET", room.base + "/participants", token=room.token)
    assert r.data == []
    r = server.request("POST", room.base + "/participants", {"data": {"name": "x", "sdp": 7}},
                       token=room.token)
    assert r.status == 400 and "sdp" in r.json["data"]


def leave_reason(server, account, peer, after_join):
    """Joins `peer`, runs `after_join()`, and returns the reason of its del-member event."""
    room = Room(server, account)
    ws = ws_connect(server)
    try:
        ws.send(json.dumps({"action": "subscribe", "auth_token": room.token,
                            "data": {"account_id": room.acct,
                                     "binding": f"conference.event.{room.id}.*"}}))
        json.loads(ws.recv())
        pid = room.join(peer, "phone")
        after_join()
        ws.settimeout(5)
        while True:
            ev = json.loads(ws.recv())
            if ev["name"] == "del-member":
                break
        assert ev["data"]["participant_id"] == pid
        return ev["data"]["reason"]
    finally:
        ws.close()


def test_silent_legs_time_out_with_a_reason(tmp_path):
    s = Server(tmp_path / "var", extra_args=["--rtp-timeout-ms", "400"]).start()
    silent = Peer(0)
    try:
        assert leave_reason(s, s.new_account("acme"), silent, lambda: None) == "rtp timeout"
    finally:
        silent.close()
        assert s.stop() == 0


def test_an_rtcp_bye_ends_the_leg(server, account):
    p = Peer(700)

    def talk_then_bye():
        run([p], 0.3)
        # A lone RTCP BYE (RFC 3550 6.6) for the peer's SSRC, on the RTP port (rtcp-mux style).
        p.sock.sendto(struct.pack("!BBHI", 0x81, 203, 1, 0x5000 + 700),
                      ("127.0.0.1", p.server_port))

    try:
        assert leave_reason(server, account, p, talk_then_bye) == "rtcp bye"
    finally:
        p.close()


def test_relate_silences_one_pair_only(server, account, peers):
    """Kazoo's relate: 'mute' stops one participant hearing another, 'deaf' the reverse, and
    'reset' undoes it, while everyone else's mix is untouched."""
    room = Room(server, account)
    a, b, c = peers
    pa, pb, pc = (room.join(p, n) for p, n in ((a, "a"), (b, "b"), (c, "c")))

    def relate(x, y, rel):
        r = server.request("PUT", room.base + "/participants",
                           {"data": {"action": "relate", "participant_id": x,
                                     "other_participant": y, "relationship": rel}},
                           token=room.token)
        assert r.status == 202, r
        assert r.data == "relating participants"

    def listen():
        for p in peers:
            p.heard.clear()
        run(peers, 1.0)

    relate(pa, pb, "mute")  # b no longer hears a
    listen()
    assert silent(b, a.hz), "b still hears a after relate mute"
    assert hears(b, c.hz) and hears(c, a.hz) and hears(a, b.hz)
    relate(pc, pa, "deaf")  # c no longer hears a
    listen()
    assert silent(c, a.hz) and hears(c, b.hz)
    relate(pa, pb, "reset")
    relate(pc, pa, "reset")
    listen()
    assert hears(b, a.hz) and hears(c, a.hz), "reset did not restore the mix"

    bad = server.request("PUT", room.base + "/participants",
                         {"data": {"action": "relate", "participant_id": pa,
                                   "other_participant": pb, "relationship": "hug"}},
                         token=room.token)
    assert bad.status == 400 and "relationship" in bad.json["data"]
    missing = server.request("PUT", room.base + "/participants",
                             {"data": {"action": "relate", "participant_id": pa,
                                       "other_participant": 99, "relationship": "mute"}},
                             token=room.token)
    assert missing.status == 404


def test_offers_the_engine_cannot_honour_are_refused_naming_the_problem(server, account):
    room = Room(server, account)

    def post(sdp):
        return server.request("POST", room.base + "/participants",
                              {"data": {"name": "x", "sdp": sdp}}, token=room.token)

    for sdp, why in (
        (offer(4000, "111", rtpmap="a=rtpmap:111 opus/48000/255\r\n"),
         "opus/48000/255: 255 channels (opus: 1 or 2)"),
        (offer(4000, "0", rtpmap="a=rtpmap:0 PCMU/8000/2\r\n"), "pcmu/8000/2: 2 channels"),
    ):
        r = post(sdp)
        assert r.status == 415 and r.json["message"] == "not_acceptable_here", r
        assert why in r.json["data"]["message"], r.json
    # Over the documented caps (README "Media"): the client's mistake, a 400 naming the rule.
    for sdp, rule, why in (
        (offer(4000) + "m=video 0 RTP/AVP 96\r\n" * 999, "maxItems", "too many m= sections"),
        (offer(4000) + "a=x\r\n" * 1100, "maxItems", "too many lines"),
        (offer(4000, " ".join(str(pt) for pt in range(100))), "maxItems", "payload types"),
        (offer(4000) + "a=" + "x" * 70000 + "\r\n", "maxLength", "too large"),
    ):
        r = post(sdp)
        assert r.status == 400 and r.json["message"] == "invalid data", r
        assert why in r.json["data"]["sdp"][rule]["message"], r.json
    assert server.request("GET", room.base + "/participants", token=room.token).data == []


def test_media_goes_only_to_allowed_unicast_destinations(tmp_path):
    with running(tmp_path / "var", config='[media]\nallow_destinations = ["127.0.0.0/8"]\n') as s:
        room = Room(s, s.new_account("acme"))

        def post(address):
            sdp = offer(4000).replace("IN IP4 127.0.0.1", f"IN IP4 {address}")
            return s.request("POST", room.base + "/participants",
                             {"data": {"name": "x", "sdp": sdp}}, token=room.token)

        r = post("8.8.8.8")  # a third party: outside the allowlist
        assert r.status == 403 and "8.8.8.8" in r.json["data"]["message"], r
        assert "allow_destinations" in r.json["data"]["message"], r
        for address in ("0.0.0.0", "224.0.0.1", "255.255.255.255"):
            r = post(address)
            assert r.status == 415 and address in r.json["data"]["message"], r
        assert s.request("GET", room.base + "/participants", token=room.token).data == []
        assert post("127.0.0.2").status == 201


def test_a_peer_behind_a_nat_gets_its_media_where_its_packets_come_from(server, account):
    """Its offer names a port nobody reads (the host's own view of itself, behind a NAT); it sends
    from another. Symmetric RTP (RFC 7362) answers there."""
    room = Room(server, account)
    a, b = Peer(400), Peer(1000)
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    dead.setblocking(False)
    b.sdp = lambda: offer(dead.getsockname()[1], "0 101")
    try:
        room.join(a, "a")
        run([a], 0.3)  # a is latched first: b's source is then the only candidate of its IP
        room.join(b, "b")
        run([a, b], 1.5)
        assert hears(b, a.hz), "the peer behind the NAT hears nothing at its source"
        assert hears(a, b.hz)
        # Before its first packet the offered port got the room (a REST leg: the token holder
        # answers for it); once latched, nothing more.
        while True:
            try:
                dead.recv(2048)
            except BlockingIOError:
                break
        run([a, b], 0.5)
        with pytest.raises(BlockingIOError):
            dead.recv(2048)
    finally:
        for x in (a, b, dead):
            x.close()


def metrics(server):
    return server.request("GET", "/metrics").json["media"]


def test_a_server_whose_rooms_have_no_legs_does_not_tick(server, account):
    room = Room(server, account)
    p = Peer(500)
    try:
        pid = room.join(p, "media")
        # Someone without media keeps the conference (and its engine room) alive.
        r = server.request("POST", room.base + "/participants", {"data": {"name": "no media"}},
                           token=room.token)
        assert r.status == 201, r
        run([p], 0.3)
        assert metrics(server)["legs"] == 1
        r = server.request("DELETE", f"{room.base}/participants/{pid}", token=room.token)
        assert r.status == 200, r
        time.sleep(0.5)  # the leave reaches the shard at its next tick, even on a busy machine
        before = metrics(server)
        time.sleep(0.5)
        after = metrics(server)
        assert after["legs"] == 0
        assert after["ticks"] == before["ticks"], "shards tick with no legs anywhere"
        assert after["sleeps"] >= 1
    finally:
        p.close()
