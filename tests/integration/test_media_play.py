"""Tones, prompts and hold music through the real binary: entry and exit tones, the play action
to a room or to one participant, what members waiting for a moderator hear, and the refusals.
Assertions are on the decoded signal (Goertzel) of plain RTP peers."""
import io
import struct
import time
import wave

import pytest

from conftest import Server, error_data, ok
from media_room import Room, make_wav, new_media, upload
from rtp_peer import Peer, goertzel, run

CHORD = (500, 600, 700)  # FreeSWITCH's default enter sound, played for play_entry_tone: true


def peak(samples, hz, window=800):
    """The strongest `hz` over 100 ms windows: a short tone anywhere in `samples`."""
    best = 0.0
    for start in range(0, max(1, len(samples) - window + 1), window // 2):
        best = max(best, goertzel(samples[start:start + window], hz))
    return best


@pytest.fixture
def quiet_peers():
    made = [Peer(0) for _ in range(3)]
    yield made
    for p in made:
        p.close()


def metrics(server):
    r = server.request("GET", "/metrics")
    assert r.status == 200, r
    return r.json["media"]


def test_entry_and_exit_tones_are_heard_by_the_room(server, account, quiet_peers):
    a, b, _ = quiet_peers
    room = Room(server, account, {"member": {"join_muted": False}, "play_entry_tone": True,
                                  "play_exit_tone": "tone_stream://v=-12;%(400,0,2200)"})
    room.join(a, "a")
    run([a], 0.5)
    a.heard.clear()
    pid = room.join(b, "b")
    run([a, b], 0.8)
    for hz in CHORD:
        assert peak(a.heard, hz) > 300, f"a did not hear the entry chord's {hz} Hz"
    assert peak(a.heard, 2200) < 60, "the exit tone played on entry"
    a.heard.clear()
    r = server.request("DELETE", f"{room.base}/participants/{pid}", token=account[1])
    assert r.status == 200, r
    run([a], 0.8)
    assert peak(a.heard, 2200) > 300, "a did not hear the exit tone"
    assert peak(a.heard, 600) < 60


def test_no_tone_unless_the_conference_asks_for_one(server, account, quiet_peers):
    a, b, _ = quiet_peers
    room = Room(server, account)  # play_entry_tone absent: Kazoo plays nothing
    room.join(a, "a")
    run([a], 0.3)
    a.heard.clear()
    room.join(b, "b")
    run([a, b], 0.6)
    assert max(abs(x) for x in a.heard) < 200, "something was played to a silent room"


def test_play_to_the_room_and_to_one_participant(server, account, quiet_peers):
    a, b, c = quiet_peers
    room = Room(server, account)
    pids = [room.join(p, n) for p, n in ((a, "a"), (b, "b"), (c, "c"))]
    run(quiet_peers, 0.3)
    for p in quiet_peers:
        p.heard.clear()
    r = room.conference_action("play", media_id="tone_stream://v=-12;%(500,0,1800)")
    assert r.status == 202 and r.data == "ok", r
    run(quiet_peers, 0.8)
    for p in quiet_peers:
        assert peak(p.heard, 1800) > 300, "a room-wide play was not heard by everyone"

    for p in quiet_peers:
        p.heard.clear()
    room.act(pids[2], "play", media_id="tone_stream://v=-12;%(500,0,2600)")
    run(quiet_peers, 0.8)
    assert peak(c.heard, 2600) > 300, "the participant did not hear its prompt"
    assert peak(a.heard, 2600) < 60 and peak(b.heard, 2600) < 60, "a prompt for c leaked"
    run(quiet_peers, 0.2)
    assert metrics(server)["plays"] <= 1, "finished plays are still held"  # the hold music


def test_play_and_record_refusals_name_what_is_wrong(server, account, quiet_peers):
    room = Room(server, account)
    # Nobody is in the conference yet: nothing to play to.
    r = room.conference_action("play", media_id="tone_stream://%(100,0,440)")
    assert r.status == 404, r
    pid = room.join(quiet_peers[0], "a")
    error_data(room.conference_action("play"), 400, "invalid data")["data.media_id"]["required"]
    bad = error_data(room.conference_action("play", media_id="tone_stream://%(100,0,99999)"),
                     400, "invalid data")
    assert "frequencies" in bad["data.media_id"]["pattern"]["message"]
    missing = room.conference_action("play", media_id="0" * 32)
    assert error_data(missing, 404, "bad_identifier")["cause"] == "0" * 32
    r = server.request("PUT", f"{room.base}/participants/{pid + 5}",
                       {"data": {"action": "play", "media_id": "tone_stream://%(100,0,440)"}},
                       token=account[1])
    assert r.status == 404, r
    error_data(room.conference_action("record"), 400, "invalid data")
    error_data(room.conference_action("record", record_action="pause"), 400, "invalid data")
    r = room.conference_action("record", record_action="stop")
    assert r.status == 409, r
    # A conference document with a broken tone string is refused when written.
    r = server.request("PUT", f"/v2/accounts/{account[0]}/conferences",
                       {"data": {"name": "x", "play_entry_tone": "tone_stream://%(1,2"}},
                       token=account[1])
    assert "pattern" in error_data(r, 400, "invalid data")["play_entry_tone"]


def test_members_waiting_for_a_moderator_hear_hold_music(tmp_path):
    hold = "tone_stream://v=-12;%(1000,0,2400)"
    s = Server(tmp_path / "var", env={"CONFAB_HOLD_MUSIC": hold}).start()
    made = [Peer(0), Peer(1000)]
    try:
        account = s.new_account("acme")
        member, moderator = made
        room = Room(s, account, {"wait_for_moderator": True,
                                 "member": {"pins": ["1111"], "join_muted": False},
                                 "moderator": {"pins": ["2222"]}})
        room.join(member, "m", pin="1111")
        run([member], 1.0)
        assert goertzel(member.recent(), 2400) > 300, "no hold music while waiting"
        room.join(moderator, "boss", pin="2222")
        run(made, 0.3)
        member.heard.clear()
        run(made, 1.0)
        assert goertzel(member.recent(), 1000) > 300, "the member does not hear the moderator"
        assert goertzel(member.recent(), 2400) < 60, "hold music goes on with a moderator in"
    finally:
        for p in made:
            p.close()
        assert s.stop() == 0


def test_a_broken_hold_music_setting_is_refused_at_start(tmp_path):
    s = Server(tmp_path / "var", env={"CONFAB_HOLD_MUSIC": "tone_stream://%(1,1"})
    with pytest.raises(RuntimeError, match="hold_music"):
        s.start()


def test_an_uploaded_media_file_plays_to_the_room(server, account, quiet_peers):
    A, tok = account
    media = new_media(server, A, tok, name="prompt")["id"]
    room = Room(server, account)
    pid = room.join(quiet_peers[0], "a")
    room.join(quiet_peers[1], "b")
    # Not uploaded yet: refused, naming why.
    r = room.conference_action("play", media_id=media)
    assert "unavailable" in error_data(r, 400, "invalid data")["data.media_id"]
    # A 44.1 kHz stereo file: downmixed and resampled to the room's rate.
    ok(upload(server, A, media, tok, make_wav(rate=44100, channels=2, seconds=1.0, hz=1300)))
    joined = quiet_peers[:2]
    run(joined, 0.2)
    for p in joined:
        p.heard.clear()
    assert room.conference_action("play", media_id=media).status == 202
    run(joined, 1.2)
    for p in joined:
        assert peak(p.heard, 1300) > 300, "the uploaded prompt was not heard"
    # The same file to one participant, as a media id of another account: 404.
    other = server.new_account("other")
    r = server.request("PUT", f"/v2/accounts/{other[0]}/conferences/{room.id}/participants/{pid}",
                       {"data": {"action": "play", "media_id": media}}, token=other[1])
    assert r.status in (403, 404), r


def wav_samples(data):
    with wave.open(io.BytesIO(data)) as w:
        frames = w.readframes(w.getnframes())
        return w.getframerate(), w.getnchannels(), list(struct.unpack(f"<{len(frames) // 2}h", frames))


def wait_for_recordings(server, account, conference_id, count=1, timeout=10):
    A, tok = account
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = server.request("GET", f"/v2/accounts/{A}/recordings?conference_id={conference_id}",
                           token=tok)
        if r.status == 200 and len(r.data) >= count:
            return r.data
        time.sleep(0.1)
    raise AssertionError(f"no recording of {conference_id} listed after {timeout} s")


def test_record_start_stop_gives_a_listed_downloadable_file_of_the_mix(server, account):
    A, tok = account
    made = [Peer(400), Peer(1000)]
    try:
        room = Room(server, account, {"member": {"join_muted": False}, "profile": "wideband"})
        for i, p in enumerate(made):
            room.join(p, f"p{i}")
        run(made, 0.3)
        # Kazoo's shape: the action at the top, start/stop in data.action.
        r = server.request("PUT", room.base, {"action": "record", "data": {"action": "start"}},
                           token=tok)
        assert r.status == 202, r
        assert server.request("GET", room.base, token=tok).data["_read_only"]["is_recording"]
        again = server.request("PUT", room.base, {"action": "record", "data": {"action": "start"}},
                               token=tok)
        assert again.status == 409, again
        run(made, 1.5)
        r = server.request("PUT", room.base, {"action": "record", "data": {"action": "stop"}},
                           token=tok)
        assert r.status == 202, r
        rec = wait_for_recordings(server, account, room.id)[0]
        doc = ok(server.request("GET", f"/v2/accounts/{A}/recordings/{rec['id']}", token=tok))
        assert doc["conference_id"] == room.id and doc["sample_rate"] == 16000, doc
        assert doc["media_source"] == "recorded" and doc["content_type"] == "audio/wav"
        # Ticks, not wall-clock: 1.5 s of packets give about that much audio, never 5 s.
        assert 1000 <= doc["duration_ms"] <= 5000, doc
        raw = server.request("GET", f"/v2/accounts/{A}/recordings/{rec['id']}",
                             headers={"Accept": "audio/wav"}, token=tok)
        assert raw.status == 200 and len(raw.content) == doc["content_length"]
        rate, channels, samples = wav_samples(raw.content)
        assert (rate, channels) == (16000, 1)
        tail = samples[-8000:]
        assert goertzel(tail, 400, 16000) > 300 and goertzel(tail, 1000, 16000) > 300, \
            "the recording does not hold both participants"
    finally:
        for p in made:
            p.close()


def test_a_recording_ends_with_its_room(server, account, quiet_peers):
    room = Room(server, account)
    pid = room.join(quiet_peers[0], "a")
    assert room.conference_action("record", record_action="start").status == 202
    run(quiet_peers[:1], 0.5)
    r = server.request("DELETE", f"{room.base}/participants/{pid}", token=account[1])
    assert r.status == 200, r
    rec = wait_for_recordings(server, account, room.id)[0]
    assert rec["conference_id"] == room.id
