"""The licence rule of docs/third-party.md, checked on the binary under test: every shared library
it loads comes from a package listed as linked there, and none of those is GPL without a linking
exception. Also: the project's own licence is Apache-2.0."""
import os
import re
import subprocess

from conftest import BIN, ROOT

DOC = os.path.join(ROOT, "docs", "third-party.md")
# Packages that must never be linked, whatever the table says: GPL libraries that are easy to
# pull in by accident (libtiff -> libjbig through spandsp's shared library, which is why confab
# has its own G.722 and DTMF detector; FFmpeg's and espeak-ng's libraries).
NEVER = {"libjbig0", "libespeak-ng1", "libreadline8", "libavcodec59", "libavformat59",
         "libavutil57", "libswresample4", "libpostproc56", "libgmp10-gpl"}


def linked_table():
    text = open(DOC).read()
    section = text.split("## Linked into `confab`", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([^`]+)`[^|]*\|[^|]*\|[^|]*\| ([^|]+) \|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    return rows


def package_of(path):
    # Debian 12 merges /lib into /usr/lib; dpkg knows each file under one of the two names.
    names = set()
    for p in (path, os.path.realpath(path)):
        names.add(p)
        names.add(p[4:] if p.startswith("/usr/") else "/usr" + p)
    for candidate in sorted(names):
        r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":", 1)[0].strip()
    return None


def shared_libraries():
    out = subprocess.run(["ldd", BIN], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"=> (/\S+)", line)
        if m:
            libs.append(m.group(1))
    return libs


def test_every_linked_library_is_listed_and_none_is_gpl():
    table = linked_table()
    assert "libssl3" in table and "libopus0" in table, table
    libs = shared_libraries()
    assert libs, "ldd found no libraries"
    unlisted = []
    for lib in libs:
        pkg = package_of(lib)
        assert pkg is not None, f"{lib} belongs to no Debian package"
        assert pkg not in NEVER, f"{lib} ({pkg}) is a GPL library and must not be linked"
        if pkg not in table:
            unlisted.append(f"{lib} ({pkg})")
            continue
        licence = table[pkg]
        assert not (licence.startswith("GPL") and "exception" not in licence.lower()), (
            f"{pkg} is linked but its licence is {licence}")
    assert not unlisted, "linked but not in docs/third-party.md: " + ", ".join(unlisted)


def test_no_spandsp_and_confab_s_own_g722_and_dtmf_detector_are_in_the_binary():
    # spandsp was dropped (its shared library drags in libtiff -> libjbig, GPL; its static one is
    # unusable): nothing of it, nor of libtiff or libjbig, may be loaded...
    sonames = [os.path.basename(l) for l in shared_libraries()]
    assert not any(s.startswith(("libspandsp", "libtiff", "libjbig")) for s in sonames), sonames
    allsyms = subprocess.run(["nm", "-C", BIN], capture_output=True, text=True).stdout
    assert "g722_encode_init" not in allsyms and "dtmf_rx_init" not in allsyms
    # ...and G.722 is confab's own, in the binary (the DTMF detector is linked once the SIP
    # layer uses it; the unit tests link it today).
    assert "confab::media::g722::encode" in allsyms
    assert "confab::media::g722::decode" in allsyms


def test_the_licence_is_apache_2():
    text = open(os.path.join(ROOT, "LICENSE")).read()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
