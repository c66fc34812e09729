"""A conference joined with media over the Kazoo REST API, and media uploads, for the audio
tests."""
import io
import math
import struct
import wave

from conftest import ok
from rtp_peer import answer_port


def make_wav(rate=16000, channels=1, seconds=1.0, hz=440):
    """A tone written by Python's wave module (16-bit PCM)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(rate * seconds)):
            s = int(8000 * math.sin(2 * math.pi * hz * i / rate))
            frames += struct.pack("<h", s) * channels
        w.writeframes(bytes(frames))
    return buf.getvalue()


def upload(server, account, media, token, data, content_type="audio/wav"):
    return server.request("POST", f"/v2/accounts/{account}/media/{media}/raw", token=token,
                          raw=data, headers={"Content-Type": content_type})


def new_media(server, account, token, name="hold music", **extra):
    r = server.request("PUT", f"/v2/accounts/{account}/media",
                       {"data": dict(name=name, **extra)}, token=token)
    return ok(r, 201)


class Room:
    def __init__(self, server, account, doc=None):
        self.s = server
        self.acct, self.token = account
        body = {"name": "media"}
        body.update(doc or {"member": {"join_muted": False}})
        r = self.s.request("PUT", f"/v2/accounts/{self.acct}/conferences", {"data": body},
                           token=self.token)
        assert r.status == 201, r
        self.id = r.data["id"]
        self.base = f"/v2/accounts/{self.acct}/conferences/{self.id}"

    def join(self, peer, name, **extra):
        data = {"name": name, "number": str(peer.port), "sdp": peer.sdp(), **extra}
        r = self.s.request("POST", self.base + "/participants", {"data": data}, token=self.token)
        assert r.status == 201, r
        peer.server_port = answer_port(r.data["sdp"])
        return r.data["participant_id"]

    def act(self, pid, action, **data):
        r = self.s.request("PUT", f"{self.base}/participants/{pid}",
                           {"data": {"action": action, **data}}, token=self.token)
        assert r.status == 202, r

    def conference_action(self, name, **data):
        """A conference action (play, record, lock...); returns the response, unchecked."""
        return self.s.request("PUT", self.base, {"action": name, "data": data},
                              token=self.token)

    def participant(self, pid):
        r = self.s.request("GET", f"{self.base}/participants/{pid}", token=self.token)
        return r.data if r.status == 200 else None
