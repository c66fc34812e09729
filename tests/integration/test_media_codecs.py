"""Every codec confab takes, through the real binary, judged on the decoded signal: G.711 both
laws, G.722 and Opus (mono and stereo) in one room; the conference profiles' mixing rates end to
end, with 16 and 48 kHz peers whose tones only a room at that rate carries; and the shared
encode (DESIGN.md section 3) counted in /metrics: listeners of one codec cost one encode a tick,
however many they are."""
import time

import pytest

from conftest import running
from media_room import Room
from rtp_peer import G722, Opus, Peer, goertzel, run


@pytest.fixture
def peers():
    made = []
    yield made
    for p in made:
        p.close()


def test_pcmu_pcma_g722_and_stereo_opus_hear_each_other_never_themselves(tmp_path, peers):
    with running(tmp_path / "var", config="[media]\nmax_speakers = 4\n") as s:  # all four mixed
        all_four_codecs(Room(s, s.new_account("acme")), peers)


def all_four_codecs(room, peers):
    stereo = Opus(stereo=True)
    peers += [Peer(400, codec="pcmu"), Peer(1000, codec="pcma"), Peer(1600, codec=G722()),
              Peer(2200, codec=stereo)]
    for i, p in enumerate(peers):
        room.join(p, f"p{i}")
    run(peers, 2.0)
    tones = [p.hz for p in peers]
    for p in peers:
        assert len(p.heard) > p.rate, f"{p.codec.name} got {len(p.heard)} samples"
        heard = p.recent()
        for hz in tones:
            power = goertzel(heard, hz, p.rate)
            if hz == p.hz:
                assert power < 40, f"{p.codec.name} hears itself ({power:.0f})"
            else:
                assert power > 300, f"{p.codec.name} does not hear {hz} Hz ({power:.0f})"
    # Stereo asked (stereo=1), stereo sent: packets coded as two channels, the mix on both.
    assert stereo.stereo_packets > 50, f"{stereo.stereo_packets} stereo-coded packets"
    right = stereo.right[-4000:]
    for hz in (400, 1000, 1600):
        assert goertzel(right, hz) > 300, f"the right channel lacks {hz} Hz"


def wideband_pair(rate):
    """Two peers whose PCM side is `rate`: G.722 at 16 kHz, full-band Opus at 48 kHz."""
    if rate == 16000:
        return G722(), G722()
    return (Opus(bitrate=96000, rate=48000, application=2049),
            Opus(bitrate=96000, rate=48000, application=2049))


# (the peers' rate, a tone only a room of at least that rate carries, a room that should carry
# it, one that should not)
CASES = [(16000, 5000, "wideband", "narrowband"), (48000, 11000, "fullband", "wideband")]


@pytest.mark.parametrize("rate,hz,carries,cuts", CASES)
def test_a_profile_sets_the_rate_the_room_mixes_at(server, account, peers, rate, hz, carries,
                                                   cuts):
    for profile, heard in ((carries, True), (cuts, False)):
        room = Room(server, account, {"profile": profile, "member": {"join_muted": False}})
        a, b = (Peer(f, 8000, codec=c) for f, c in zip((hz, 1000), wideband_pair(rate)))
        peers += [a, b]
        room.join(a, "high")
        room.join(b, "low")
        run([a, b], 1.5)
        level = goertzel(b.recent(), hz, rate)
        assert goertzel(b.recent(), hz // 5, rate) < 40  # nothing but what was sent
        assert goertzel(a.recent(), 1000, rate) > 300, f"{profile}: 1 kHz not carried"
        if heard:
            assert level > 300, f"a {profile} room does not carry {hz} Hz ({level:.0f})"
        else:
            assert level < 40, f"a {profile} room carries {hz} Hz ({level:.0f}): not its rate"


def metrics(server):
    r = server.request("GET", "/metrics")
    assert r.status == 200, r
    return r.json["media"]


def test_listeners_of_one_codec_share_one_encode_a_tick(tmp_path, peers):
    with running(tmp_path / "var", ["--media-shards", "1"]) as s:
        room = Room(s, s.new_account("acme"), {"member": {"join_muted": True}})
        talker = Peer(700, 8000)
        listeners = [Peer(0) for _ in range(6)] + [Peer(0, codec=G722()) for _ in range(6)]
        peers += [talker] + listeners
        room.act(room.join(talker, "talker"), "unmute")
        for i, p in enumerate(listeners):
            room.join(p, f"l{i}")
        run(peers, 0.5)
        before, t0 = metrics(s), time.monotonic()
        run(peers, 1.5)
        after = metrics(s)
        ticks = after["ticks"] - before["ticks"]
        assert ticks >= 40, (ticks, time.monotonic() - t0)
        per_tick = {c: (after["codec_encodes"][c] - before["codec_encodes"][c]) / ticks
                    for c in after["codec_encodes"]}
        # PCMU: the listeners' shared encode and the talker's own mix-minus; G.722: one shared
        # encode for its six listeners; nobody speaks Opus or PCMA. One per listener would be 7
        # and 6.
        assert 1.8 <= per_tick["PCMU"] <= 2.2, per_tick
        assert 0.9 <= per_tick["G722"] <= 1.1, per_tick
        assert per_tick["opus"] == 0 and per_tick["PCMA"] == 0, per_tick
        for p in listeners:
            assert goertzel(p.recent(), 700, p.rate) > 300, f"a {p.codec.name} listener hears nothing"


def longest_gap(samples, amp):
    """The longest run of samples below amp / 16: a dropout (a tone is never that low for more
    than a sample or two)."""
    worst = run_len = 0
    for x in samples:
        run_len = run_len + 1 if abs(x) < amp / 16 else 0
        worst = max(worst, run_len)
    return worst


def test_a_room_mixes_at_the_highest_rate_its_legs_use(tmp_path, peers):
    """A conference whose profile names no rate ([media] rate 48 kHz by default): with G.711 legs
    only it mixes at 8 kHz (no leg carries more: resampling them all both ways would be waste);
    wideband legs joining take it to 16 kHz, where their 5 kHz tones pass, and the G.711 talk
    going on meanwhile never drops out for more than 10 ms."""
    import threading
    with running(tmp_path / "var", ["--media-shards", "1"]) as s:
        room = Room(s, s.new_account("acme"))
        talker, listener = Peer(500, 8000), Peer(0)
        wide_a, wide_b = Peer(5000, 8000, codec=G722()), Peer(1000, 8000, codec=G722())
        peers += [talker, listener, wide_a, wide_b]
        room.join(talker, "talker")
        room.join(listener, "listener")
        run([talker, listener], 0.5)
        m0 = metrics(s)
        run([talker, listener], 1.0)
        m1 = metrics(s)
        # (/metrics reads the counters while the shard runs: a tick's samples may be counted
        # before the tick itself, hence the margin; 48 kHz would be 960.)
        per_tick = (m1["mixed_samples"] - m0["mixed_samples"]) / (m1["ticks"] - m0["ticks"])
        assert abs(per_tick - 160) < 10, f"{per_tick} samples a tick: not 8 kHz with G.711 only"
        # The wideband legs join while the G.711 pair keeps talking (HTTP from another thread).
        joined = threading.Event()

        def join_wide():
            room.join(wide_a, "wide a")
            room.join(wide_b, "wide b")
            joined.set()

        listener.clear()
        t = threading.Thread(target=join_wide)
        t.start()
        run([talker, listener], 0.5)
        t.join(10)
        assert joined.is_set()
        run(peers, 1.5)
        m2 = metrics(s)
        run(peers, 1.0)
        m3 = metrics(s)
        per_tick = (m3["mixed_samples"] - m2["mixed_samples"]) / (m3["ticks"] - m2["ticks"])
        assert abs(per_tick - 320) < 10, f"{per_tick} samples a tick: not 16 kHz with G.722 in"
        assert goertzel(wide_b.recent(), 5000, 16000) > 300, "5 kHz lost: the room is not at 16 kHz"
        assert goertzel(wide_a.recent(), 1000, 16000) > 300
        assert goertzel(listener.recent(), 5000) < 40  # (G.711 cannot carry it)
        assert goertzel(listener.recent(), 500) > 300
        gap = longest_gap(listener.heard[800:], 8000 * 0.8)
        assert gap < 80, f"the G.711 listener heard {gap} samples of silence around the switch"
