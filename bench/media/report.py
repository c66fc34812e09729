#!/usr/bin/env python3
"""Prints bench/media/run.sh's table from its JSON lines: one row per scenario and server, the
targets of DESIGN.md and the media issue, and the confab/Janus ratios.

    report.py RESULTS.jsonl [PINNING] [--markdown]
"""
import json
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
markdown = "--markdown" in sys.argv
rows = [json.loads(line) for line in open(args[0]) if line.strip()]
pinning = args[1] if len(args) > 1 else ""

runs = {(r["label"], r["target"]): r for r in rows if r.get("target") in ("confab", "janus")}
delays = [r for r in rows if r.get("kind") == "delay"]
alloc = next((r for r in rows if r.get("label") == "alloc"), None)

NAMES = {
    "webinar": "(a) webinar: 3 speakers + 2,000 muted listeners, Opus",
    "meeting": "(b) meeting: 50 all talking, Opus",
    "webinar100": "(c) webinar: 3 speakers + 100 muted listeners, Opus",
    "rooms": "(d) 200 rooms x 5 all talking, PCMU, narrowband profile (8 kHz rooms)",
    "rooms48k": "(d') the same, rooms mixing at 48 kHz (cdquality profile)",
}


def realtime(r):  # Janus reports no late ticks: judged on what arrived
    return (r.get("server_late_ticks", 0) == 0 and r["loss_pct"] < 1.0 and r["delivered_pct"] >= 99.0
            and r["participants_without_audio"] == 0)


def capped(j):  # Janus that could not keep up used all the CPU it was given: a lower bound
    return "" if realtime(j) else ", at least: Janus fell behind"


def verdict(label, r):
    if r["target"] != "confab":
        return ("keeps up" if realtime(r) else
                f"falls behind: delivered {r['delivered_pct']:.0f} %, seq loss {r['loss_pct']:.1f} %")
    if label == "rooms48k":
        return f"(what-if) real time: {'yes' if realtime(r) else 'no'}"
    if label in ("webinar", "rooms"):
        ok = realtime(r)
        return f"real time, 0 late ticks, loss < 1 %: {'met' if ok else 'MISSED'}"
    j = runs.get((label, "janus"))
    if label == "meeting":
        if not j:
            return "CPU <= Janus/4: no Janus run"
        ratio = j["server_cpu_pct"] / max(r["server_cpu_pct"], 1e-9)
        return (f"CPU <= Janus/4: {'met' if ratio >= 4 else 'MISSED'} (Janus/confab = {ratio:.1f}x"
                f"{capped(j)})")
    if label == "webinar100":
        if not j:
            return "CPU/participant <= Janus/10: no Janus run"
        ratio = j["server_cpu_per_participant_pct"] / max(r["server_cpu_per_participant_pct"], 1e-9)
        return (f"CPU/participant <= Janus/10: {'met' if ratio >= 10 else 'MISSED'} (Janus/confab = "
                f"{ratio:.1f}x{capped(j)})")
    return ""


head = ("scenario", "server", "legs", "setup s", "delivered %", "seq loss %", "late/ticks", "srv CPU %",
        "CPU/leg %", "enc/dec per tick", "loadgen %", "other %", "target")
table = []
order = ["webinar", "meeting", "webinar100", "rooms", "rooms48k"]
for label in order + sorted({k[0] for k in runs} - set(order)):
    for target in ("confab", "janus"):
        r = runs.get((label, target))
        if not r:
            continue
        late = f"{r['server_late_ticks']}/{r['server_ticks']}" if "server_late_ticks" in r else "n/a"
        encdec = (f"{r['server_encodes_per_tick']:.0f}/{r['server_decodes_per_tick']:.0f}"
                  if "server_encodes_per_tick" in r else "n/a")
        other = r["machine_busy_pct"] - r["server_cpu_pct"] - r["loadgen_cpu_pct"]
        table.append((NAMES.get(label, label) if target == "confab" or (label, "confab") not in runs else "",
                      target, str(r["participants"]), f"{r['setup_s']:.1f}", f"{r['delivered_pct']:.2f}",
                      f"{r['loss_pct']:.2f}", late, f"{r['server_cpu_pct']:.1f}",
                      f"{r['server_cpu_per_participant_pct']:.3f}", encdec, f"{r['loadgen_cpu_pct']:.0f}",
                      f"{max(other, 0):.0f}", verdict(label, r)))
if alloc:
    ok = alloc["allocations"] == 0 and alloc["control_join_leave_allocations"] > 0
    table.append(("alloc: engine in-process, 3 talking + 50 listening", "confab", str(alloc["legs"]), "",
                  "", "", f"{alloc['late_ticks']}/{alloc['ticks']}", "", "",
                  f"{alloc['encodes'] / max(alloc['ticks'], 1):.0f}/{alloc['decodes'] / max(alloc['ticks'], 1):.0f}",
                  "", "", f"0 allocations/tick: {'met' if ok else 'MISSED'} ({alloc['allocations']} in "
                  f"{alloc['ticks']} ticks; a join+leave made {alloc['control_join_leave_allocations']})"))

def show(head, table, title):
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for row in table:
            print("| " + " | ".join(c.replace("|", "/") for c in row) + " |")
        return
    w = [max(len(str(x[i])) for x in table + [head]) for i in range(len(head))]
    print()
    print(f"== {title} ({pinning})" if pinning else f"== {title}")
    for row in [head, tuple("-" * n for n in w)] + table:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(row)).rstrip())


if table:
    show(head, table, "media summary")
    if not markdown:
        print("delivered: packets received / (legs x 50/s x window); seq loss: gaps in the RTP sequence"
              " numbers received. A late tick sends nothing for that 20 ms (no gap in sequence numbers),"
              " so it shows in delivered, not in seq loss; real time needs both >= 99 % and < 1 %.")
        print("srv CPU: the server process (all threads, utime+stime from /proc/PID/stat) over the measured"
              " window, in % of one core; other: the rest of the machine's busy time (neither server nor"
              " load generator).")


def spread(s):
    return f"{s['min']:.1f} / {s['median']:.1f} / {s['p95']:.1f} / {s['max']:.1f}" if s else "n/a"


if delays:
    dhead = ("codec", "bursts heard", "mouth-to-ear ms", "transit ms", "tick wait ms", "work ms",
             "jitter-buffer ticks", "in frame ms", "target")
    dtable = []
    for r in delays:
        m = r["mouth_to_ear_ms"]
        ok = m is not None and r["detected"] == r["bursts"] and m["max"] < 60
        dtable.append((r["codec"], f"{r['detected']}/{r['bursts']}", spread(m), spread(r["transit_ms"]),
                       spread(r["tick_wait_ms"]), f"{r['server_work_ms']:.1f}",
                       ", ".join(f"{n}x{k}" for k, n in sorted(r["buffered_ticks"].items())),
                       spread(r["in_frame_ms"]),
                       f"every burst < 60 ms: {'met' if ok else 'MISSED'}"))
    show(dhead, dtable, "mouth-to-ear delay, min / median / p95 / max")
    if not markdown:
        print("mouth-to-ear = 20 ms packetisation + transit + the onset's place in the listener's"
              " packet; transit = tick wait + the server's work + 20 ms x ticks held in the jitter"
              " buffer (bench/media/delay.py explains each).")
