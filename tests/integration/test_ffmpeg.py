"""A real RTP tool that no one here wrote: ffmpeg streams a 1 kHz tone into a room in each codec
confab takes (Opus mono and stereo, G.722, PCMA) and records what it hears, while a G.711 peer
of this test talks at 500 Hz. Each must hear the other and ffmpeg must not hear itself: the
codecs mixed, resampled and re-encoded both ways, decoded by an implementation not ours.

ffmpeg sends from a socket of its own, not from the port it receives on, and here it sits
behind a NAT (rtp_peer.Nat) whose public port is neither: its offer names a port nobody reads.
Only a server that sends a leg's media to the source of its packets (symmetric RTP, RFC 7362)
reaches it."""
import shutil
import socket
import struct
import subprocess
import wave

import pytest

from rtp_peer import Nat, Peer, answer_port, goertzel, run

FFMPEG = shutil.which("ffmpeg")


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# name: (payload type, SDP lines after m=, what the answer must say, ffmpeg's encoder options,
# channels ffmpeg records)
CODECS = {
    "opus": (111, "a=rtpmap:111 opus/48000/2\r\n", "a=rtpmap:111 opus/48000/2",
             ["-ac", "1", "-c:a", "libopus", "-b:a", "64k"], 1),
    "opus-stereo": (111, "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 stereo=1;sprop-stereo=1\r\n",
                    "stereo=1", ["-ac", "2", "-c:a", "libopus", "-b:a", "96k"], 2),
    "g722": (9, "a=rtpmap:9 G722/8000\r\n", "a=rtpmap:9 G722/8000",
             ["-ac", "1", "-ar", "16000", "-c:a", "g722"], 1),
    "pcma": (8, "a=rtpmap:8 PCMA/8000\r\n", "a=rtpmap:8 PCMA/8000",
             ["-ac", "1", "-ar", "8000", "-c:a", "pcm_alaw"], 1),
}


@pytest.mark.parametrize("codec", list(CODECS))
def test_ffmpeg_behind_a_nat_streams_in_and_records_the_mix(server, account, tmp_path, codec):
    assert FFMPEG, "ffmpeg missing: scripts/install-deps installs it"
    pt, lines, answered, encoder, channels = CODECS[codec]
    acct, token = account
    r = server.request("PUT", f"/v2/accounts/{acct}/conferences",
                       {"data": {"name": "ff", "member": {"join_muted": False}}}, token=token)
    base = f"/v2/accounts/{acct}/conferences/{r.data['id']}/participants"

    peer = Peer(500, 8000)
    r = server.request("POST", base, {"data": {"name": "g711", "sdp": peer.sdp()}}, token=token)
    assert r.status == 201, r
    peer.server_port = answer_port(r.data["sdp"])
    run([peer], 0.3)  # the peer is known by its address before ffmpeg's stream arrives

    # ffmpeg's offer names `dead`, a port nobody reads (the host's own view, behind the NAT);
    # it receives on `listen`, sends from a port of its own, and the server sees the NAT's.
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    listen = free_udp_port()
    offer = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=ffmpeg\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             f"m=audio {dead.getsockname()[1]} RTP/AVP {pt}\r\n{lines}")
    r = server.request("POST", base, {"data": {"name": "ffmpeg", "sdp": offer}}, token=token)
    assert r.status == 201, r
    assert answered in r.data["sdp"], r.data["sdp"]
    nat = Nat(answer_port(r.data["sdp"]), deliver_to=listen)

    (tmp_path / "in.sdp").write_text(offer.replace(f"m=audio {dead.getsockname()[1]} ",
                                                   f"m=audio {listen} "))
    out = tmp_path / "heard.wav"
    recorder = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp",
         "-i", str(tmp_path / "in.sdp"), "-t", "3", "-ac", str(channels), "-ar", "8000", "-y",
         str(out)], stdin=subprocess.DEVNULL)
    sender = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
         "sine=frequency=1000:sample_rate=48000:duration=4", *encoder, "-payload_type", str(pt),
         "-f", "rtp", f"rtp://127.0.0.1:{nat.inside_port}"],
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
        nat.close()
        dead.close()

    with wave.open(str(out)) as w:
        assert w.getframerate() == 8000 and w.getnchannels() == channels
        raw = w.readframes(w.getnframes())
    frames = list(struct.unpack(f"<{len(raw) // 2}h", raw))
    assert nat.back > 50, f"the server sent {nat.back} packets to the NAT's public port"
    for ch in range(channels):
        samples = frames[ch::channels][-8000:]  # the last second of this channel
        assert len(samples) == 8000, "ffmpeg recorded less than a second"
        assert goertzel(samples, 500) > 300, f"ffmpeg does not hear the G.711 peer (channel {ch})"
        assert goertzel(samples, 1000) < 40, f"ffmpeg hears itself (channel {ch})"
    # 1.5 to 3.5 s into the run: ffmpeg's 4 s stream is going whenever ffmpeg started (the last
    # half second may already be past its end when the machine is busy).
    middle = peer.heard[12000:28000]
    assert len(middle) == 16000, len(peer.heard)
    assert goertzel(middle, 1000) > 300, f"the G.711 peer does not hear ffmpeg's {codec}"
