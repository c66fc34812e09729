"""A conference joined with media over the Kazoo REST API, for the audio tests."""
from rtp_peer import answer_port


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
