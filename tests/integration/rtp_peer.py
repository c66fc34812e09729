"""A plain RTP participant for the tests: a UDP socket that sends a G.711 tone (or silence) in
20 ms packets and keeps what the server sends back, decoded. Independent of confab's code:
mu-law comes from Python's audioop, the analysis is a Goertzel filter."""
import warnings

with warnings.catch_warnings():  # deprecated in 3.11, still shipped with Debian 12's Python
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop
import math
import socket
import struct
import time


def goertzel(samples, hz, rate=8000):
    """Amplitude-like power of one frequency in a list of samples."""
    if not samples:
        return 0.0
    k = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    return math.sqrt(max(0.0, s1 * s1 + s2 * s2 - k * s1 * s2)) / len(samples)


def offer(port, codecs="0 101", extra=""):
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP {codecs}\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n" + extra)


def answer_port(sdp):
    for line in sdp.splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise AssertionError("no m=audio in answer: " + sdp)


class Peer:
    def __init__(self, hz, amplitude=6000):
        self.hz = hz
        self.amplitude = amplitude
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.server_port = None
        self.seq = 1000
        self.ts = 0
        self.t = 0
        self.heard = []
        self.packets = 0

    def sdp(self):
        return offer(self.port)

    def frame(self):
        pcm = [int(self.amplitude * math.sin(2 * math.pi * self.hz * (self.t + i) / 8000))
               for i in range(160)] if self.hz else [0] * 160
        self.t += 160
        return audioop.lin2ulaw(struct.pack("<160h", *pcm), 2)

    def packet(self, payload, pt=0, marker=False, ts=None, seq=None):
        seq = self.seq if seq is None else seq
        ts = self.ts if ts is None else ts
        return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                           ts & 0xFFFFFFFF, 0x5000 + int(self.hz)) + payload

    def send_frame(self):
        self.sock.sendto(self.packet(self.frame()), ("127.0.0.1", self.server_port))
        self.seq += 1
        self.ts += 160

    def send_dtmf(self, digit_code):
        """An RFC 4733 event: three packets with the same timestamp, the last with E set."""
        for i, end in enumerate((False, False, True)):
            payload = struct.pack("!BBH", digit_code, (0x80 if end else 0) | 10, 160 * (i + 1))
            self.sock.sendto(self.packet(payload, pt=101, ts=self.ts), ("127.0.0.1", self.server_port))
            self.seq += 1

    def drain(self):
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return
            if len(data) < 12 or data[1] & 0x7F != 0:
                continue
            self.packets += 1
            pcm = audioop.ulaw2lin(data[12:], 2)
            self.heard.extend(struct.unpack(f"<{len(pcm) // 2}h", pcm))

    def recent(self, n=4000):
        return self.heard[-n:]

    def close(self):
        self.sock.close()


def run(peers, seconds, senders=None):
    """Paces 20 ms frames from `senders` (default: all peers) and collects what every peer hears."""
    senders = peers if senders is None else senders
    start = time.monotonic()
    frames = int(seconds * 50)
    for i in range(frames):
        for p in senders:
            p.send_frame()
        time.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))
        for p in peers:
            p.drain()
