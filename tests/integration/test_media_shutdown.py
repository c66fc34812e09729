"""SIGTERM under load: rooms playing looped tones and hold music, recording, participants
joining and leaving with media, event subscribers, and clients writing documents. The server must
exit 0 (an AddressSanitizer build aborts on a use-after-free: a shard reading a clip the media
bridge freed), every recording running at the signal must come back as a recording document
whose file is a finished WAV, and every document on disk must have been answered to its
client (a write that completes while the store drains gets its reply)."""
import http.client
import json
import os
import threading
import time
import wave
import io

from conftest import Server, ws_connect
from media_room import Room
from rtp_peer import Peer, run

ROOMS = 4
WRITERS = 4
LOOP = "tone_stream://L=100;%(100,50,700)"  # 15 s: still playing at SIGTERM


class Writer(threading.Thread):
    """Creates conferences named after itself on one keep-alive connection until the server goes;
    remembers the names it got a 201 for."""

    def __init__(self, port, account, token, n):
        super().__init__(daemon=True)
        self.port, self.account, self.token, self.n = port, account, token, n
        self.acked, self.error = set(), None

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        i = 0
        try:
            while True:
                name = f"w{self.n}-{i}"
                conn.request("PUT", f"/v2/accounts/{self.account}/conferences",
                             body=json.dumps({"data": {"name": name}}),
                             headers={"X-Auth-Token": self.token,
                                      "Content-Type": "application/json"})
                r = conn.getresponse()
                body = r.read()
                if r.status == 201:
                    self.acked.add(name)
                elif r.status != 503:
                    self.error = f"{r.status} {body[:200]!r}"
                    return
                i += 1
        except (OSError, http.client.HTTPException):
            return  # the server went: what was answered is in self.acked


class Joiner(threading.Thread):
    """Joins a room with media and leaves again, over and over."""

    def __init__(self, server, room):
        super().__init__(daemon=True)
        self.server, self.room, self.stop = server, room, threading.Event()
        self.peer = Peer(900)

    def run(self):
        try:
            while not self.stop.is_set():
                pid = self.room.join(self.peer, "joiner")
                time.sleep(0.05)
                self.server.request("DELETE", f"{self.room.base}/participants/{pid}",
                                    token=self.room.token)
        except (OSError, AssertionError):
            return


def finished_wav(data):
    """The file's header agrees with its size and the samples are there: a WAV whose writer
    finished it (an unfinished one says 0 bytes of data)."""
    with wave.open(io.BytesIO(data)) as w:
        frames = w.getnframes()
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
    assert len(data) == 44 + frames * 2, (len(data), frames)
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    return frames


def test_sigterm_under_media_load_exits_cleanly_and_loses_nothing(tmp_path):
    data_dir = tmp_path / "var"
    s = Server(data_dir).start()
    account = s.new_account("acme")
    acct, token = account
    peers, writers, joiners, sockets = [], [], [], []
    try:
        rooms = []
        for i in range(ROOMS):
            # Half the rooms wait for a moderator: their members hear the looped hold music.
            doc = {"member": {"join_muted": False}, "wait_for_moderator": i % 2 == 1}
            room = Room(s, account, doc)
            rooms.append(room)
            for k in range(2):
                p = Peer(300 + 100 * (2 * i + k))
                peers.append(p)
                pid = room.join(p, f"r{i}p{k}")
                room.act(pid, "play", media_id=LOOP)  # a looped prompt of its own
            assert room.conference_action("play", media_id=LOOP).status == 202
            assert room.conference_action("record", action="start").status == 202
        for room in rooms:
            ws = ws_connect(s)
            ws.send(json.dumps({"action": "subscribe", "auth_token": token,
                                "data": {"account_id": acct,
                                         "binding": f"conference.event.{room.id}.*"}}))
            sockets.append(ws)
        run(peers, 0.5)
        joiners = [Joiner(s, rooms[0]), Joiner(s, rooms[1])]
        writers = [Writer(s.port, acct, token, n) for n in range(WRITERS)]
        for t in joiners + writers:
            t.start()
        run(peers, 1.0)
        assert all(w.acked for w in writers), "the writers got nothing done before the signal"
        code = s.stop()
        assert code == 0, "confab did not exit 0 on SIGTERM:\n" + "".join(s.log_lines[-60:])
    finally:
        for j in joiners:
            j.stop.set()
        for t in writers + joiners:
            t.join(15)
        for p in peers + [j.peer for j in joiners]:
            p.close()
        for ws in sockets:
            ws.close()
        if s.proc.poll() is None:
            s.kill()
    for w in writers:
        assert w.error is None, w.error

    s = Server(data_dir).start()
    try:
        # Every recording running at the signal is a recording document with a finished file.
        r = s.request("GET", f"/v2/accounts/{acct}/recordings", token=token)
        assert r.status == 200, r
        by_room = {rec["conference_id"]: rec for rec in r.data}
        for room in rooms:
            assert room.id in by_room, f"the recording of {room.id} running at SIGTERM is lost"
            rec = by_room[room.id]
            raw = s.request("GET", f"/v2/accounts/{acct}/recordings/{rec['id']}/raw",
                            token=token)
            assert raw.status == 200, raw
            frames = finished_wav(raw.content)
            assert frames >= 48000, f"{frames} samples: less than a second recorded"
            assert rec["samples_dropped"] == 0, rec
        leftovers = [f for _, _, files in os.walk(data_dir / "recordings") for f in files
                     if f.endswith(".tmp")]
        assert not leftovers, f"recordings left as temporary files: {leftovers}"
        # Every document written is one its client was told about: none was committed and left
        # unanswered.
        r = s.request("GET", f"/v2/accounts/{acct}/conferences", token=token)
        stored = {c["name"] for c in r.data if c["name"].startswith("w")}
        acked = set().union(*(w.acked for w in writers))
        assert stored >= acked, f"acknowledged but lost: {sorted(acked - stored)[:5]}"
        assert stored <= acked, (f"written but never answered: {sorted(stored - acked)[:5]} "
                                 f"({len(stored - acked)} of {len(stored)})")
    finally:
        assert s.stop() == 0
