"""Live sessions: does the standalone runtime keep up with a live device?

``semg-grasp stream`` plays a Sapsanis recording as an LSL outlet at 500 Hz in another
process; ``semg-grasp run --source lsl`` runs the whole pipeline on it (classifier, simulated
camera and field, generator, hand controller, MuJoCo check and pictures of each grasp) until
the outlet ends. Recorded: samples sent vs samples in the bag, gaps in the running index, the
realtime factor (seconds of session per second of processing) and the worst lag behind the clock.
(``bench/view.py`` times the session view.)

    python bench/live.py                    # -> bench/results/live.json
    python bench/live.py --seconds 20 --json /tmp/live.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "semg_grasp_ros.cli", *args], capture_output=True, text=True,
                          cwd=REPO, **kw)


def live(seconds: float, folder: Path) -> dict:
    from semg_grasp_ros.paths import data_root
    from semg_grasp_ros.pipeline.bag import read_bag

    name = f"bench_{uuid.uuid4().hex[:8]}"
    mat = data_root() / "emg" / "sapsanis" / "Database 1" / "male_1.mat"
    outlet = subprocess.Popen([sys.executable, "-m", "semg_grasp_ros.cli", "stream", "--source", "sapsanis",
                               "--file", str(mat), "--order", "sequential", "--duration", str(seconds),
                               "--lsl-name", name, "--wait", "600"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    out = folder / "live"
    run = _cli("run", "--source", "lsl", "--lsl-name", name, "--timeout", "120", "--out", str(out))
    log, _ = outlet.communicate(timeout=120)
    if run.returncode:
        raise RuntimeError(run.stdout + run.stderr)
    sent = int(re.search(r"sent (\d+) samples", log).group(1))
    chunks = [c for _, _, c in read_bag(out / "session", ["emg/chunks"])]
    index = [c.first_sample_index for c in chunks]
    gaps = sum(b != a + c.sample_count for a, b, c in zip(index, index[1:], chunks))
    summary = json.loads((out / "summary.json").read_text())
    return {"seconds_streamed": seconds, "samples_sent": sent, "samples_in_bag": sum(c.sample_count for c in chunks),
            "chunks_in_bag": len(chunks), "index_gaps": gaps, "session_s": summary["session_s"],
            "wall_s": summary["wall_s"], "realtime_factor": summary["realtime_factor"],
            "max_lag_s": summary["max_lag_s"], "lag_warnings": summary["lag_warnings"], "grasps": summary["grasps"],
            "reanchors": summary["emg"].get("reanchors", 0),
            "latency_p95_ms": {k: v["p95_ms"] for k, v in summary["latency"].items()}}


def main() -> int:
    from bench.common import machine_info

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of signal the outlet streams")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "live.json")
    args = parser.parse_args()
    result = {"machine": machine_info("rerun", "pylsl")}
    with tempfile.TemporaryDirectory() as tmp:
        result["live"] = live(args.seconds, Path(tmp))
    result["machine"]["load_average_end"] = [round(v, 2) for v in __import__("os").getloadavg()]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if not isinstance(vv, (dict, list))}
                      for k, v in result.items() if k != "machine"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
