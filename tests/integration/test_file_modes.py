"""What confab writes is its owner's only, whatever the umask: the data dir 0700, the database
and its -wal and -shm 0600, secret.key 0600 (and an existing one readable by others refused at
start-up), media uploads and recordings 0600. Servers here start under umask 022, the usual one,
under which files made with the default modes are readable by every local user."""
import contextlib
import os
import stat
import subprocess
import time

from conftest import BIN, Server, running
from media_room import Room, make_wav, new_media, upload
from rtp_peer import Peer, run


@contextlib.contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def wait_for_recording(server, account, conference_id):
    A, tok = account
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = server.request("GET", f"/v2/accounts/{A}/recordings?conference_id={conference_id}",
                           token=tok)
        if r.status == 200 and r.data:
            return r.data[0]
        time.sleep(0.1)
    raise AssertionError("no recording listed")


def test_everything_written_under_umask_022_is_owner_only(tmp_path):
    data_dir = tmp_path / "var"
    with umask(0o022):
        s = Server(data_dir).start()
    try:
        account = s.new_account("acme")
        A, tok = account
        # A media upload and a recording, so that every kind of file is there.
        media = new_media(s, A, tok)
        assert upload(s, A, media["id"], tok, make_wav()).status in (200, 201)
        peer = Peer(440)
        try:
            room = Room(s, account)
            room.join(peer, "p")
            run([peer], 0.3)
            assert room.conference_action("record", action="start").status == 202
            run([peer], 0.5)
            assert room.conference_action("record", action="stop").status == 202
            rec = wait_for_recording(s, account, room.id)
        finally:
            peer.close()
        files = {
            "data dir": data_dir,
            "confab.db": data_dir / "confab.db",
            "confab.db-wal": data_dir / "confab.db-wal",
            "confab.db-shm": data_dir / "confab.db-shm",
            "secret.key": data_dir / "secret.key",
            "media file": data_dir / "media" / A / (media["id"] + ".wav"),
            "recording": data_dir / "recordings" / A / (rec["id"] + ".wav"),
        }
        modes = {name: oct(mode(p)) for name, p in files.items()}
        assert modes == {name: oct(0o700 if name == "data dir" else 0o600) for name in files}, modes
        for area in ("media", "recordings"):
            for dirpath, dirnames, _ in os.walk(data_dir / area):
                assert mode(dirpath) == 0o700, (dirpath, oct(mode(dirpath)))
        assert not (data_dir / "secret.key.tmp").exists()
    finally:
        assert s.stop() == 0


def test_an_offline_account_create_under_umask_022_is_owner_only_too(tmp_path):
    data_dir = tmp_path / "var"
    with umask(0o022):
        out = subprocess.run([BIN, "account", "create", "--name", "acme", "--data-dir",
                              str(data_dir)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "confab.db") == 0o600
    assert mode(data_dir / "secret.key") == 0o600


def test_an_existing_wider_data_dir_and_database_are_narrowed(tmp_path):
    data_dir = tmp_path / "var"
    with running(data_dir):
        pass
    # As an older version under umask 022 would have left them.
    os.chmod(data_dir, 0o755)
    os.chmod(data_dir / "confab.db", 0o644)
    with umask(0o022), running(data_dir) as s:
        assert mode(data_dir) == 0o700
        assert mode(data_dir / "confab.db") == 0o600
        assert mode(data_dir / "confab.db-wal") == 0o600
        assert s.request("GET", "/healthz").status == 200
    assert any("data dir" in line and "0755" in line and "0700" in line for line in s.log_lines), \
        s.log_lines[-20:]


def test_a_secret_key_readable_by_others_is_refused_at_start_up(tmp_path):
    data_dir = tmp_path / "var"
    with running(data_dir):
        pass
    key = data_dir / "secret.key"
    before = key.read_text()
    for bad in (0o644, 0o640, 0o604):
        os.chmod(key, bad)
        out = subprocess.run([BIN, "serve", "--data-dir", str(data_dir), "--http",
                              "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
        text = out.stdout + out.stderr
        assert out.returncode != 0, text
        assert str(key) in text and oct(bad)[2:].rjust(4, "0") in text, text
        assert "chmod 600" in text, text
        assert "listening on" not in text
        assert key.read_text() == before  # refused, not replaced
    os.chmod(key, 0o600)
    with running(data_dir):
        pass
