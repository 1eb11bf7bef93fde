"""Crash safety of recording: kill -9 a recorder at random moments, recover, check.

Each trial runs a command of the ``semg-grasp`` CLI (``record`` or ``demo``) in a
subprocess whose bag writer reports every message it has written (topic, stamp, CRC-32
of the serialized bytes) on stdout, kills it with SIGKILL at a random moment after its
first message, then recovers the bag (``semg-grasp bag recover``) and checks:

* recovered: the bag opens with rosbags' reader and with the independent ``mcap`` reader
  (what ``ros2 bag play``'s MCAP plugin reads: standard MCAP with summary and footer);
* none corrupted: every recovered message is byte-identical to one the writer wrote, and
  the recovered messages are exactly the first ones written (plus, at most, the one being
  reported when the kill came);
* lost: bag time between the last message written and the last one recovered (<= 1 s).

    python bench/crash_recovery.py                 # 20 trials (16 record, 4 demo) -> bench/results/crash_recovery.json
    python bench/crash_recovery.py --trials 4 --demo 1 --json /tmp/x.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: The child: the CLI with the bag writer's ``write`` reporting each message once written.
CHILD = """
import os, sys, zlib
from semg_grasp_ros.pipeline import bag_storage
_write = bag_storage.SafeWriter.write
report = int(os.environ["SEMG_GRASP_REPORT_FD"])
def write(self, conn, stamp, data):
    _write(self, conn, stamp, data)
    os.write(report, f"{conn.topic} {stamp} {zlib.crc32(data)}\\n".encode())
bag_storage.SafeWriter.write = write
from semg_grasp_ros.cli import main
sys.exit(main(sys.argv[1:]))
"""

RECORD = ["record", "--source", "simulated", "--loop", "--duration", "100000", "--script",
          "rest:1,cylindrical:2,rest:1,tip:2"]
DEMO = ["demo", "--no-physics", "--no-render", "--script", "rest:2,cylindrical:3,rest:2,tip:3,rest:2"]


def kill_and_recover(args: list[str], bag: Path, kill_after_s: float, storage: str = "mcap",
                     startup_timeout_s: float = 120.0) -> dict:
    """Run ``semg-grasp ARGS --storage STORAGE`` writing ``bag``, SIGKILL it ``kill_after_s``
    after its first message, recover and compare. Returns the trial's figures."""
    from mcap_ros2.reader import read_ros2_messages
    from rosbags.highlevel import AnyReader

    from semg_grasp_ros.msgs.typestore import typestore
    from semg_grasp_ros.pipeline.bag_recovery import recover

    read_fd, write_fd = os.pipe()
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", SEMG_GRASP_REPORT_FD=str(write_fd))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *args, "--storage", storage], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=env)
    os.close(write_fd)
    report = os.fdopen(read_fd, "rb")
    first = report.readline()
    if not first:
        raise RuntimeError(f"semg-grasp {' '.join(args)} wrote no message (exit {proc.wait()})")
    chunks = [first]
    drain = threading.Thread(target=lambda: chunks.extend(iter(lambda: report.read1(65536), b"")))
    drain.start()  # a full pipe would block the writer
    time.sleep(kill_after_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    drain.join()
    report.close()
    lines = b"".join(chunks).decode().split("\n")
    written = [tuple(line.split()) for line in lines[:-1]]  # the last one is partial or empty
    t0 = time.perf_counter()
    result = recover(bag)
    recover_s = time.perf_counter() - t0
    got = []
    with AnyReader([bag], default_typestore=typestore()) as reader:
        for conn, stamp, raw in reader.messages():
            got.append((conn.topic, str(stamp), str(zlib.crc32(raw))))
    storage_file = next(bag.glob("*.mcap"), None)
    independent = None if storage_file is None else sum(1 for _ in read_ros2_messages(str(storage_file)))
    stamps = [int(w[1]) for w in written]
    written_ns = max(stamps)
    got_ns = max((int(g[1]) for g in got), default=min(stamps))  # nothing kept: all written is lost
    return {
        "command": args[0], "storage": storage, "kill_after_s": round(kill_after_s, 3),
        "written": len(written), "recovered": len(got), "independent_reader": independent,
        "exact_prefix": _exact_prefix(written, got),
        "lost_s": round(max(0, written_ns - got_ns) * 1e-9, 6),
        "bytes_cut": result.bytes_dropped, "recover_s": round(recover_s, 4),
    }


def _exact_prefix(written: list[tuple], got: list[tuple]) -> bool:
    """``got`` is ``written`` less a tail; the child may die between writing a message and
    reporting it, so one unreported message may be more."""
    missing = Counter(written) - Counter(got)
    tail = written[len(written) - sum(missing.values()):]
    return sum((Counter(got) - Counter(written)).values()) <= 1 and Counter(tail) == missing


def ok(trial: dict, max_lost_s: float = 1.0) -> bool:
    """A trial passes: what is recovered is identical to what was written first, both
    readers agree, at most ``max_lost_s`` of bag time lost."""
    return (trial["exact_prefix"] and trial["lost_s"] <= max_lost_s
            and trial["independent_reader"] in (None, trial["recovered"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--demo", type=int, default=4, help="how many of the trials kill a demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="runs/crash_recovery")
    parser.add_argument("--json", default=str(REPO / "bench/results/crash_recovery.json"))
    args = parser.parse_args()
    from bench.common import machine_info
    from semg_grasp_ros.pipeline.bag_storage import FLUSH_INTERVAL_S

    rng = random.Random(args.seed)
    work = Path(args.work) / time.strftime("%Y%m%d-%H%M%S")
    trials = []
    for i in range(args.trials):
        demo = i < args.demo
        storage = "sqlite3" if i % 5 == 4 else "mcap"
        out = work / f"trial{i:02d}"
        cmd = [*(DEMO if demo else RECORD), "--out", str(out)]
        trial = kill_and_recover(cmd, out / "session" if demo else out, rng.uniform(0.0, 3.0 if demo else 2.0), storage)
        trial["ok"] = ok(trial)
        trials.append(trial)
        print(json.dumps(trial), flush=True)
    lost = [t["lost_s"] for t in trials]
    summary = {
        "machine": machine_info("mcap"),
        "trials": len(trials), "recovered_ok": sum(t["ok"] for t in trials),
        "lost_s_max": max(lost, default=None), "lost_s_median": sorted(lost)[len(lost) // 2] if lost else None,
        "flush_interval_s": FLUSH_INTERVAL_S,
        "trial": trials,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(summary, indent=2))
    print(f"{summary['recovered_ok']}/{summary['trials']} recovered intact; lost at most {summary['lost_s_max']} s")


if __name__ == "__main__":
    main()
