"""Many plain-RTP legs driven from one thread: the leak check, the stop-under-load test and the
soak (bench/soak/soak.py) put tens to hundreds of participants in rooms and keep them talking
while they come and go. Each leg has its own UDP socket (the server tells legs apart by address);
one sender thread sends a pre-encoded G.711 mu-law frame for every leg every 20 ms and counts
what comes back. Nothing is decoded: these legs are load, not listeners under test (rtp_peer.py
is for that)."""
import math
import socket
import struct
import threading
import time
import warnings

with warnings.catch_warnings():  # deprecated in 3.11, still shipped with Debian 12's Python
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

from rtp_peer import FRAME, RATE, answer_port, offer

SILENCE = b"\xff" * FRAME  # mu-law zero


def tone_frames(hz, amplitude=6000, frames=50):
    """One second of a tone, pre-encoded: `frames` mu-law payloads to loop over."""
    out = []
    for f in range(frames):
        pcm = [int(amplitude * math.sin(2 * math.pi * hz * (f * FRAME + i) / RATE))
               for i in range(FRAME)]
        out.append(audioop.lin2ulaw(struct.pack(f"<{FRAME}h", *pcm), 2))
    return out


class Leg:
    __slots__ = ("sock", "port", "ssrc", "seq", "ts", "frames", "server_port", "pid", "room",
                 "rx", "born", "lifetime", "listen")

    def __init__(self, ssrc, frames):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.ssrc = ssrc
        self.seq = ssrc & 0xFFFF
        self.ts = 0
        self.frames = frames  # payloads to loop over (one: a silent listener)
        self.server_port = None
        self.pid = None  # participant id, once joined
        self.room = None
        self.rx = 0  # packets received from the server
        self.born = time.monotonic()
        self.lifetime = None
        self.listen = True  # False: what the server sends is left to the kernel (to drop)

    def deaf(self):
        """Reads nothing back (a soak's cheap listener): a small receive buffer fills and the
        kernel drops the rest, so the sender thread spends nothing on it."""
        self.listen = False
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        return self

    def sdp(self):
        return offer(self.port, "0 101")

    def close(self):
        self.sock.close()


class Legs:
    """A set of legs and the thread that sends for all of them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.active = []
        self.next_ssrc = 0x10000
        self.tones = {}
        self.sent = 0
        self.received = 0
        self.late_sends = 0  # ticks the sender itself started more than a tick late
        self._stop = threading.Event()
        self._thread = None

    def new(self, hz=0):
        """A leg that says a tone of `hz` (0: silence), not yet joined."""
        if hz and hz not in self.tones:
            self.tones[hz] = tone_frames(hz)
        with self.lock:
            self.next_ssrc += 1
            ssrc = self.next_ssrc
        return Leg(ssrc, self.tones[hz] if hz else [SILENCE])

    def join(self, server, account, token, conference, leg, name=None):
        """Joins `leg` through the Kazoo REST API; returns the response (the leg sends once
        joined)."""
        r = server.request("POST", f"/v2/accounts/{account}/conferences/{conference}/participants",
                           {"data": {"name": name or f"leg-{leg.ssrc}", "sdp": leg.sdp()}},
                           token=token)
        if r.status == 201:
            leg.server_port = answer_port(r.data["sdp"])
            leg.pid = r.data["participant_id"]
            leg.room = conference
            with self.lock:
                self.active.append(leg)
        return r

    def leave(self, server, account, token, leg):
        """Takes `leg` out (DELETE its participant) and closes its socket; returns the status."""
        with self.lock:
            if leg in self.active:
                self.active.remove(leg)
        r = server.request("DELETE", f"/v2/accounts/{account}/conferences/{leg.room}/participants/"
                           f"{leg.pid}", token=token)
        leg.close()
        return r.status

    def snapshot(self):
        with self.lock:
            return list(self.active)

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def _run(self):
        tick = 0
        start = time.monotonic()
        while not self._stop.is_set():
            for leg in self.snapshot():
                try:
                    while leg.listen:  # what the server sent since the last tick
                        leg.sock.recv(2048)
                        leg.rx += 1
                        self.received += 1
                except (BlockingIOError, OSError):
                    pass
                payload = leg.frames[tick % len(leg.frames)]
                header = struct.pack("!BBHII", 0x80, 0, leg.seq & 0xFFFF, leg.ts & 0xFFFFFFFF,
                                     leg.ssrc)
                try:
                    leg.sock.sendto(header + payload, ("127.0.0.1", leg.server_port))
                    self.sent += 1
                except OSError:  # closed by leave() meanwhile, or the server is gone
                    pass
                leg.seq += 1
                leg.ts += FRAME
            tick += 1
            delay = start + tick * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.02:
                self.late_sends += 1
