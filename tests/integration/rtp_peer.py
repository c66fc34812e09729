"""A plain RTP participant for the tests: a UDP socket that sends a tone (or silence, or any other
source) in 20 ms packets, G.711 (mu-law, A-law), G.722 or Opus, and keeps what the server sends
back, decoded. Independent of confab's code: G.711 comes from Python's audioop, G.722 from the
system's libspandsp and Opus from its libopus through ctypes, the analysis is a Goertzel filter.
A peer's PCM side is 8 kHz mono unless its codec says otherwise (`rate`: G.722 16 kHz, Opus
made with rate=16000 or 48000), so that the same analysis serves every codec. A `Link` between a
peer and the wire drops and reorders its packets, reproducibly."""
import warnings

with warnings.catch_warnings():  # deprecated in 3.11, still shipped with Debian 12's Python
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop
import ctypes
import ctypes.util
import math
import random
import socket
import struct
import time

RATE = 8000  # the PCM rate of every peer, both directions
FRAME = 160  # samples in one 20 ms frame at RATE


def goertzel(samples, hz, rate=RATE):
    """Amplitude-like power of one frequency in a list of samples (half a sine's amplitude)."""
    if not samples:
        return 0.0
    k = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    return math.sqrt(max(0.0, s1 * s1 + s2 * s2 - k * s1 * s2)) / len(samples)


def amplitude(samples, hz, rate=RATE):
    """The amplitude of a sine of `hz` in `samples` (exact over whole cycles, close otherwise)."""
    return 2 * goertzel(samples, hz, rate)


def rms(samples):
    return math.sqrt(sum(x * x for x in samples) / len(samples)) if samples else 0.0


class Pcmu:
    """G.711 mu-law, payload type 0."""
    name = "pcmu"
    pt = 0
    rate = RATE
    ts_step = FRAME  # RTP clock = sample rate
    rtpmap = "a=rtpmap:0 PCMU/8000\r\n"
    full_scale = 32124  # the largest magnitude mu-law decodes to

    def encode(self, pcm):
        return audioop.lin2ulaw(struct.pack(f"<{len(pcm)}h", *pcm), 2)

    def decode(self, payload):
        pcm = audioop.ulaw2lin(payload, 2)
        return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


class Pcma(Pcmu):
    """G.711 A-law, payload type 8."""
    name = "pcma"
    pt = 8
    rtpmap = "a=rtpmap:8 PCMA/8000\r\n"
    full_scale = 32256

    def encode(self, pcm):
        return audioop.lin2alaw(struct.pack(f"<{len(pcm)}h", *pcm), 2)

    def decode(self, payload):
        pcm = audioop.alaw2lin(payload, 2)
        return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


class G722:
    """G.722 at 64 kb/s through libspandsp (payload type 9): 16 kHz PCM, an 8 kHz RTP clock
    (RFC 3551's historical mistake, kept by everyone)."""
    name = "g722"
    pt = 9
    rate = 16000
    ts_step = 160
    rtpmap = "a=rtpmap:9 G722/8000\r\n"
    full_scale = 32767

    def __init__(self):
        name = ctypes.util.find_library("spandsp") or "libspandsp.so.2"
        lib = ctypes.CDLL(name)
        for f in ("g722_encode_init", "g722_decode_init"):
            getattr(lib, f).restype = ctypes.c_void_p
            getattr(lib, f).argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.g722_encode.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                    ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
        lib.g722_decode.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16),
                                    ctypes.c_char_p, ctypes.c_int]
        lib.g722_encode_free.argtypes = lib.g722_decode_free.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.enc = lib.g722_encode_init(None, 64000, 0)
        self.dec = lib.g722_decode_init(None, 64000, 0)
        self.out = ctypes.create_string_buffer(1500)
        self.pcm = (ctypes.c_int16 * 3000)()

    def encode(self, pcm):
        buf = (ctypes.c_int16 * len(pcm))(*pcm)
        n = self.lib.g722_encode(self.enc, self.out, buf, len(pcm))
        return self.out.raw[:n]

    def decode(self, payload):
        n = self.lib.g722_decode(self.dec, self.pcm, payload, len(payload))
        return list(self.pcm[:n])

    def __del__(self):
        if getattr(self, "lib", None):
            self.lib.g722_encode_free(self.enc)
            self.lib.g722_decode_free(self.dec)


_libopus = None


def libopus():
    """The system's libopus (confab links the same library), or None."""
    global _libopus
    if _libopus is None:
        name = ctypes.util.find_library("opus") or "libopus.so.0"
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            return None
        lib.opus_encoder_create.restype = ctypes.c_void_p
        lib.opus_encoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.c_int,
                                            ctypes.POINTER(ctypes.c_int)]
        lib.opus_decoder_create.restype = ctypes.c_void_p
        lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int,
                                            ctypes.POINTER(ctypes.c_int)]
        lib.opus_encode.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int,
                                    ctypes.c_char_p, ctypes.c_int32]
        lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32,
                                    ctypes.POINTER(ctypes.c_int16), ctypes.c_int, ctypes.c_int]
        lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
        lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
        _libopus = lib
    return _libopus


class Opus:
    """Opus (RFC 7587: payload type 111, RTP clock 48 kHz) through libopus, with in-band FEC.
    The PCM side is `rate` (8 kHz by default: libopus resamples internally, both ways). With
    `stereo`, the offer asks for stereo (stereo=1) and what comes back is decoded as two
    channels: `heard` is the left one, `right` the other, `stereo_packets` counts the packets
    coded as stereo (their TOC byte's s bit, RFC 6716 3.1)."""
    name = "opus"
    pt = 111
    ts_step = 960
    full_scale = 32767
    _SET_BITRATE, _SET_COMPLEXITY, _SET_INBAND_FEC, _SET_PACKET_LOSS_PERC = 4002, 4010, 4012, 4014
    _SET_BANDWIDTH, _FULLBAND = 4008, 1105

    def __init__(self, bitrate=32000, rate=RATE, stereo=False, application=2048):
        lib = libopus()
        if lib is None:
            raise RuntimeError("libopus is not installed")
        self.lib = lib
        self.rate = rate
        self.stereo = stereo
        self.channels = 2 if stereo else 1
        self.right = []
        self.stereo_packets = 0
        self.rtpmap = ("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1" +
                       (";stereo=1" if stereo else "") + "\r\n")
        err = ctypes.c_int(0)
        # 2048: VOIP; 2049: AUDIO (keeps the full band at high bitrates)
        self.enc = lib.opus_encoder_create(rate, 1, application, ctypes.byref(err))
        if err.value != 0:
            raise RuntimeError(f"opus_encoder_create: {err.value}")
        self.dec = lib.opus_decoder_create(rate, self.channels, ctypes.byref(err))
        if err.value != 0:
            raise RuntimeError(f"opus_decoder_create: {err.value}")
        for request, value in ((self._SET_BITRATE, bitrate), (self._SET_COMPLEXITY, 3),
                               (self._SET_INBAND_FEC, 1), (self._SET_PACKET_LOSS_PERC, 10)):
            lib.opus_encoder_ctl(ctypes.c_void_p(self.enc), ctypes.c_int(request),
                                 ctypes.c_int32(value))
        if rate == 48000:
            lib.opus_encoder_ctl(ctypes.c_void_p(self.enc), ctypes.c_int(self._SET_BANDWIDTH),
                                 ctypes.c_int32(self._FULLBAND))
        self.frame = rate // 50
        self.pcm = (ctypes.c_int16 * (self.frame * 6 * self.channels))()  # a 120 ms packet
        self.out = ctypes.create_string_buffer(1500)

    def encode(self, pcm):
        buf = (ctypes.c_int16 * len(pcm))(*pcm)
        n = self.lib.opus_encode(self.enc, buf, len(pcm), self.out, len(self.out))
        if n < 0:
            raise RuntimeError(f"opus_encode: {n}")
        return self.out.raw[:n]

    def decode(self, payload):
        n = self.lib.opus_decode(self.dec, payload, len(payload), self.pcm, self.frame * 6, 0)
        if n <= 0:
            return []
        if payload and payload[0] & 0x04:
            self.stereo_packets += 1
        if not self.stereo:
            return list(self.pcm[:n])
        both = self.pcm[:2 * n]
        self.right.extend(both[1::2])
        return list(both[0::2])

    def __del__(self):
        if getattr(self, "lib", None):
            self.lib.opus_encoder_destroy(self.enc)
            self.lib.opus_decoder_destroy(self.dec)


CODECS = {"pcmu": Pcmu, "pcma": Pcma, "g722": G722, "opus": Opus}


def offer(port, codecs="0 101", extra="", rtpmap=Pcmu.rtpmap):
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP {codecs}\r\n{rtpmap}"
            "a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n" + extra)


def answer_port(sdp):
    for line in sdp.splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise AssertionError("no m=audio in answer: " + sdp)


class Link:
    """The network between a peer and the server, made worse on purpose and reproducibly.

    Packets are numbered from 0 in the order the peer sends them. `loss` drops that fraction of
    them (a seeded draw, never more than `max_burst` in a row), `drop` drops exactly the numbers
    it lists, and `delay` ({number: frames}) holds a packet back so that it leaves right after the
    packet `frames` later: {k: 1} swaps k and k+1, {k: 2} sends k after k+1 and k+2. `stall`
    ({number: frames}) holds that many packets from `number` on and sends them, in order, just
    before the next one: a sender that stopped for a while and then caught up."""

    def __init__(self, loss=0.0, seed=1, max_burst=3, drop=(), delay=None, stall=None):
        self.loss = loss
        self.rng = random.Random(seed)
        self.max_burst = max_burst
        self.drop = set(drop)
        self.delay = dict(delay or {})
        self.stalled = {}  # number -> (the packet it leaves with, its place among those held)
        for first, frames in (stall or {}).items():
            self.stalled.update({first + i: (first + frames, i) for i in range(frames)})
        self.held = []  # (leaves with packet number, sort key, datagram)
        self.count = 0
        self.burst = 0
        self.dropped = []  # the numbers dropped, for the tests' reasons

    def send(self, datagram):
        """The datagrams to put on the wire now that the peer sends `datagram`."""
        n = self.count
        self.count += 1
        out = []
        lose = n in self.drop or (self.rng.random() < self.loss and self.burst < self.max_burst)
        if lose:
            self.burst += 1
            self.dropped.append(n)
        elif n in self.stalled:  # leaves just before the packet that ends the stall
            self.burst = 0
            with_packet, place = self.stalled[n]
            self.held.append((with_packet, with_packet - 1 + (place + 1) / (len(self.stalled) + 2),
                              datagram))
        elif self.delay.get(n):  # leaves just after the packet `delay` later
            self.burst = 0
            self.held.append((n + self.delay[n], n + self.delay[n] + 0.5, datagram))
        else:
            self.burst = 0
            out.append((n, datagram))
        out += [(key, d) for due, key, d in self.held if due <= n]
        self.held = [h for h in self.held if h[0] > n]
        return [d for _, d in sorted(out, key=lambda x: x[0])]


def tone(hz, amp, start, n=FRAME, rate=RATE):
    return [int(amp * math.sin(2 * math.pi * hz * (start + i) / rate)) for i in range(n)]


class Peer:
    """One participant. `source(index)`, when given, returns the PCM of the peer's frame number
    `index` (FRAME samples); otherwise it says a tone of `hz` at `amplitude` (silence at 0 Hz)."""

    def __init__(self, hz, amplitude=6000, codec="pcmu", link=None, source=None):
        self.hz = hz
        self.amplitude = amplitude
        self.codec = CODECS[codec]() if isinstance(codec, str) else codec
        self.rate = getattr(self.codec, "rate", RATE)
        self.frame_len = self.rate // 50
        self.link = link
        self.source = source
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.server_port = None
        self.seq = 1000
        self.ts = 0
        self.t = 0
        self.sent = 0  # frames said (lost ones included)
        self.sent_at = None  # when the last one left (ns)
        self.heard = []
        self.packets = 0
        self.rx = []  # (sequence number, timestamp, samples decoded) of every media packet

    def sdp(self):
        return offer(self.port, f"{self.codec.pt} 101", rtpmap=self.codec.rtpmap)

    def frame(self):
        if self.source:
            pcm = self.source(self.sent)
        elif self.hz:
            pcm = tone(self.hz, self.amplitude, self.t, self.frame_len, self.rate)
        else:
            pcm = [0] * self.frame_len
        self.t += self.frame_len
        self.sent += 1
        return self.codec.encode(pcm)

    def packet(self, payload, pt=None, marker=False, ts=None, seq=None):
        seq = self.seq if seq is None else seq
        ts = self.ts if ts is None else ts
        pt = self.codec.pt if pt is None else pt
        return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                           ts & 0xFFFFFFFF, 0x5000 + int(self.hz)) + payload

    def send_frame(self):
        datagram = self.packet(self.frame())
        self.sent_at = time.time_ns()  # CLOCK_REALTIME, as the kernel's receive timestamps
        for d in self.link.send(datagram) if self.link else (datagram,):
            self.sock.sendto(d, ("127.0.0.1", self.server_port))
        self.seq += 1
        self.ts += self.codec.ts_step

    def send_dtmf(self, digit_code):
        """An RFC 4733 event: three packets with the same timestamp, the last with E set."""
        for i, end in enumerate((False, False, True)):
            payload = struct.pack("!BBH", digit_code, (0x80 if end else 0) | 10, 160 * (i + 1))
            self.sock.sendto(self.packet(payload, pt=101, ts=self.ts), ("127.0.0.1", self.server_port))
            self.seq += 1

    def on_datagram(self, data):
        """Files one datagram from the server; returns the decoded samples (None: not media)."""
        if len(data) < 12 or data[1] & 0x7F != self.codec.pt:
            return None
        header = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10 and len(data) >= header + 4:  # a header extension
            header += 4 + 4 * struct.unpack_from("!H", data, header + 2)[0]
        pcm = self.codec.decode(data[header:])
        seq, ts = struct.unpack_from("!HI", data, 2)
        self.packets += 1
        self.rx.append((seq, ts, len(pcm)))
        self.heard.extend(pcm)
        return pcm

    def drain(self):
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return
            self.on_datagram(data)

    def recent(self, n=None):
        """The last half second heard (`n` samples)."""
        return self.heard[-(n or self.rate // 2):]

    def clear(self):
        self.heard.clear()
        if hasattr(self.codec, "right"):
            self.codec.right.clear()
        self.rx.clear()
        self.packets = 0

    def close(self):
        self.sock.close()


def run(peers, seconds, senders=None):
    """Paces 20 ms frames from `senders` (default: all peers) and collects what every peer hears.
    Returns how late each frame left (seconds): on a loaded machine the senders stall and then
    send their backlog at once, as a stalled phone would."""
    senders = peers if senders is None else senders
    start = time.monotonic()
    frames = int(seconds * 50)
    late = []
    for i in range(frames):
        late.append(time.monotonic() - (start + i * 0.02))
        for p in senders:
            p.send_frame()
        time.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))
        for p in peers:
            p.drain()
    return late


class Nat:
    """A NAT between one host and the server, for latching tests: the host sends to `inside`
    (an address of this NAT), the NAT sends that on from its own public socket, and hands what
    comes back to that socket to the host at `deliver_to`. The server sees the NAT's public
    port, never the host's: it answers a peer behind a NAT only if it follows the source of the
    packets (symmetric RTP, RFC 7362). Runs in a thread until close()."""

    def __init__(self, server_port, deliver_to):
        import select
        import threading
        self._select = select.select
        self.inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.inside.bind(("127.0.0.1", 0))
        self.public = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.public.bind(("127.0.0.1", 0))
        self.inside_port = self.inside.getsockname()[1]
        self.public_port = self.public.getsockname()[1]
        self.server = ("127.0.0.1", server_port)
        self.deliver_to = ("127.0.0.1", deliver_to)
        self.out = self.back = 0  # datagrams each way
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            ready, _, _ = self._select([self.inside, self.public], [], [], 0.05)
            for s in ready:
                data, src = s.recvfrom(2048)
                if s is self.inside:
                    self.public.sendto(data, self.server)
                    self.out += 1
                elif src == self.server:
                    self.inside.sendto(data, self.deliver_to)
                    self.back += 1

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.inside.close()
        self.public.close()
