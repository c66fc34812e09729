"""Clients for test_hostile.py that send exactly the bytes a hostile client would: HTTP requests
with any method, path, headers and body (and a timeout of the test's choosing), a WebSocket
client over a plain socket that can break every framing rule, tokens minted with the server's
own key (expired, tampered, re-signed), SDP offers and RTP/RTCP datagrams of every wrong shape.
Independent of confab's code: the formats are RFC 6455, RFC 3550/3551, RFC 4566 and the token
layout documented in src/core/token.hpp."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import struct
import time

from conftest import Response

# --- HTTP --------------------------------------------------------------------------------------


def call(server, method, path, body=None, headers=None, timeout=10):
    """One request on its own connection. `body`: bytes, or an object sent as JSON. Returns a
    conftest.Response (status, raw text, headers, json)."""
    if body is not None and not isinstance(body, (bytes, bytearray)):
        body = json.dumps(body).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if body is not None and not any(k.lower() == "content-length" for k in hdrs):
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before the body was read: the answer is still there
        r = conn.getresponse()
        content = r.read()
        return Response(r.status, content.decode(errors="replace"),
                        {k: v for k, v in r.getheaders()}, content)
    finally:
        conn.close()


def exchange(port, payload, timeout=5.0, source="127.0.0.1"):
    """Sends raw bytes (no half-close: the server must judge what it got) and reads until the
    server closes. Returns (bytes, closed): closed is False when it neither answered in full nor
    closed within `timeout`."""
    so = socket.socket()
    so.bind((source, 0))
    so.settimeout(timeout)
    so.connect(("127.0.0.1", port))
    out = b""
    deadline = time.monotonic() + timeout
    try:
        try:
            so.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out, False
            so.settimeout(left)
            try:
                b = so.recv(65536)
            except socket.timeout:
                return out, False
            except ConnectionResetError:
                return out, True
            if not b:
                return out, True
            out += b
    finally:
        so.close()


def parse_answer(raw):
    """(status, headers lower-case, body bytes) of the first HTTP response in `raw`."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return status, headers, body


# --- WebSocket ---------------------------------------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """One client frame, with every field under the caller's control: `rsv` the three reserved
    bits (0..7), `mask` False for an unmasked frame, `length` a declared length other than the
    payload's."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0x0F)])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return head + key + masked


class WsClosed(Exception):
    pass


class RawWs:
    """A WebSocket client over a plain socket: it sends whatever it is told, answers pings only
    while it waits for something, and reports the close code the server sends."""

    def __init__(self, port, path, headers=None, timeout=5):
        self.so = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.so.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                         f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            b = self.so.recv(4096)
            if not b:
                raise WsClosed("closed during the handshake: %r" % self.buf[:200])
            self.buf += b
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        self.head = head

    def send(self, data):
        try:
            self.so.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed first; its close frame is still to be read

    def send_text(self, text):
        self.send(frame(OP_TEXT, text.encode() if isinstance(text, str) else text))

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.so.settimeout(left)
            try:
                b = self.so.recv(262144)
            except socket.timeout:
                raise TimeoutError from None
            except ConnectionResetError:
                b = b""
            if not b:
                raise WsClosed("EOF")
            self.buf += b

    def recv_frame(self, timeout=5):
        """(fin, opcode, payload) of the next server frame. Server frames are never masked."""
        deadline = time.monotonic() + timeout
        self._fill(2, deadline)
        assert not self.buf[1] & 0x80, "the server masked a frame"
        n, pos = self.buf[1] & 0x7F, 2
        if n == 126:
            self._fill(4, deadline)
            n, pos = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._fill(10, deadline)
            n, pos = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._fill(pos + n, deadline)
        fin, op, payload = bool(self.buf[0] & 0x80), self.buf[0] & 0x0F, self.buf[pos:pos + n]
        self.buf = self.buf[pos + n:]
        return fin, op, payload

    def recv_json(self, timeout=5):
        """The next text message (pings answered on the way); raises WsClosed on a close."""
        deadline = time.monotonic() + timeout
        while True:
            _, op, payload = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if op == OP_PING:
                self.send(frame(OP_PONG, payload))
            elif op == OP_CLOSE:
                raise WsClosed(close_code(payload))
            elif op == OP_TEXT:
                return json.loads(payload)

    def wait_json(self, pred, timeout=5):
        """The first text message for which pred(message) holds; others are passed over."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv_json(max(0.01, deadline - time.monotonic()))
            if pred(m):
                return m

    def until_close(self, timeout=5):
        """Reads until the server's close frame; returns its code (1005: none in it, None: the
        connection ended without one, "timeout": still open after `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                _, op, payload = self.recv_frame(max(0.01, deadline - time.monotonic()))
            except WsClosed:
                return None
            except TimeoutError:
                return "timeout"
            if op == OP_CLOSE:
                return close_code(payload)
            if op == OP_PING:
                self.send(frame(OP_PONG, payload))

    def close(self):
        try:
            self.so.close()
        except OSError:
            pass


def close_code(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


# --- tokens ------------------------------------------------------------------------------------


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(secret, body):
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:40]


def mint(secret, account, user="", expires=None, method="api_key", payload=None):
    """A token as the server makes them (src/core/token.hpp): base64url of
    account|user|expiry|method, a dot, the first 40 hex digits of its HMAC-SHA256."""
    if payload is None:
        expires = int(time.time()) + 3600 if expires is None else expires
        payload = f"{account}|{user}|{expires}|{method}"
    body = b64url(payload.encode())
    return body + "." + sign(secret, body)


def payload_of(token):
    body = token.split(".", 1)[0]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


# --- SDP ---------------------------------------------------------------------------------------


def sdp(port=40000, formats="0", rtpmap="a=rtpmap:0 PCMU/8000\r\n", c="c=IN IP4 127.0.0.1\r\n",
        media=None, extra=""):
    """An audio offer; every part may be replaced to make it wrong."""
    if media is None:
        media = f"m=audio {port} RTP/AVP {formats}\r\n{rtpmap}"
    return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n" + c + "t=0 0\r\n" + media + extra


# --- RTP / RTCP --------------------------------------------------------------------------------


def rtp(pt=0, seq=1, ts=0, ssrc=0x1234, payload=b"\xff" * 160, version=2, padding=False,
        extension=False, cc=0, marker=False, csrcs=b""):
    first = (version & 3) << 6 | (0x20 if padding else 0) | (0x10 if extension else 0) | (cc & 15)
    return struct.pack("!BBHII", first, (0x80 if marker else 0) | (pt & 0x7F), seq & 0xFFFF,
                       ts & 0xFFFFFFFF, ssrc) + csrcs + payload


def rtcp(pt, count=0, body=b"", length=None, version=2, padding=False):
    """An RTCP packet whose length field (32-bit words minus one) may lie."""
    words = (4 + len(body)) // 4 - 1 if length is None else length
    return struct.pack("!BBH", (version & 3) << 6 | (0x20 if padding else 0) | (count & 31),
                       pt, words & 0xFFFF) + body
