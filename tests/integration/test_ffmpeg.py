"""A real RTP tool that no one here wrote: ffmpeg streams a 1 kHz tone as Opus (or G.722) into a
room and records what it hears, while a G.711 peer of this test talks at 500 Hz. Each must hear the
other and ffmpeg must not hear itself: Opus (G.722) and G.711 mixed, resampled and re-encoded both
ways. The G.722 run is confab's own codec against FFmpeg's, end to end through the real binary."""
import os
import shutil
import socket
import struct
import subprocess
import time
import wave

import pytest

from rtp_peer import Peer, answer_port, goertzel, run

FFMPEG = shutil.which("ffmpeg")
pytestmark = pytest.mark.skipif(FFMPEG is None and os.environ.get("CI") != "true",
                                reason="ffmpeg is installed by scripts/install-deps")


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ffmpeg_streams_opus_in_and_records_the_mix(server, account, tmp_path):
    stream_in_and_record(server, account, tmp_path, "111", "opus/48000/2",
                         ["-c:a", "libopus", "-b:a", "64k"], 48000)


def test_ffmpeg_streams_g722_in_and_records_the_mix(server, account, tmp_path):
    stream_in_and_record(server, account, tmp_path, "9", "G722/8000", ["-c:a", "g722"], 16000)


def stream_in_and_record(server, account, tmp_path, pt, rtpmap, encode, rate):
    assert FFMPEG, "ffmpeg missing: scripts/install-deps installs it"
    acct, token = account
    r = server.request("PUT", f"/v2/accounts/{acct}/conferences",
                       {"data": {"name": "ff", "member": {"join_muted": False}}}, token=token)
    base = f"/v2/accounts/{acct}/conferences/{r.data['id']}/participants"

    peer = Peer(500, 8000)
    r = server.request("POST", base, {"data": {"name": "g711", "sdp": peer.sdp()}}, token=token)
    assert r.status == 201, r
    peer.server_port = answer_port(r.data["sdp"])
    run([peer], 0.3)  # the peer is known by its address before ffmpeg's stream arrives

    # ffmpeg's leg: it receives on `listen` (its SDP offer) and sends from a port of its own.
    listen = free_udp_port()
    sdp_in = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=ffmpeg\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
              f"m=audio {listen} RTP/AVP {pt}\r\na=rtpmap:{pt} {rtpmap}\r\n")
    r = server.request("POST", base, {"data": {"name": "ffmpeg", "sdp": sdp_in}}, token=token)
    assert r.status == 201, r
    assert f"a=rtpmap:{pt} {rtpmap}" in r.data["sdp"], r.data["sdp"]
    port = answer_port(r.data["sdp"])

    (tmp_path / "in.sdp").write_text(sdp_in)
    out = tmp_path / "heard.wav"
    recorder = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp",
         "-i", str(tmp_path / "in.sdp"), "-t", "3", "-ac", "1", "-ar", "8000", "-y", str(out)],
        stdin=subprocess.DEVNULL)
    sender = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
         f"sine=frequency=1000:sample_rate={rate}:duration=4", *encode,
         "-payload_type", pt, "-f", "rtp", f"rtp://127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        run([peer], 4.0)
        assert sender.wait(timeout=15) == 0
        assert recorder.wait(timeout=15) == 0
    finally:
        for p in (sender, recorder):
            if p.poll() is None:
                p.kill()
        peer.close()

    with wave.open(str(out)) as w:
        assert w.getframerate() == 8000
        raw = w.readframes(w.getnframes())

    samples = list(struct.unpack(f"<{len(raw) // 2}h", raw))[-8000:]  # the last second
    assert len(samples) == 8000, "ffmpeg recorded less than a second"
    assert goertzel(samples, 500) > 300, "ffmpeg does not hear the G.711 peer"
    assert goertzel(samples, 1000) < 40, "ffmpeg hears itself"
    assert goertzel(peer.recent(), 1000) > 300, f"the G.711 peer does not hear ffmpeg's {rtpmap}"
