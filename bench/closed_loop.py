"""The headline figure: the right grasp, holding, at the first try.

    python bench/closed_loop.py [--out bench/results/closed_loop.json] [--physics standard|lenient] [...]

Runs ``semg-grasp eval closed-loop`` (``semg_grasp_ros.pipeline.closed_loop``) on every Sapsanis
subject of the data folder and the YCB objects of ``objects/ycb`` (never used to train the
grasp generator), one simulated depth view, with the shipped defaults: per subject, the
shipped recipe calibrated on repetitions 0-23, repetitions 24-29 streamed with rest between
trials. The generator tries every candidate in simulation (``--verify-budget 60``): the node's 1 s
budget fits its 16 on an unloaded core (``bench/grasp_real.py`` reports the wall time), and the
figure then does not depend on what else the machine runs (``--verify-budget 1`` for the node's
budget). Adds the machine and the wall time to the JSON; the plot is written beside it. Extra
arguments are passed to the command (e.g. ``--max-trials 12`` for a quick look).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine_info  # noqa: E402
from semg_grasp_ros.cli import main as cli_main  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/closed_loop.json"), help="result JSON")
    parser.add_argument("--verify-budget", default="60", help="the generator's verification budget, seconds (default 60: "
                                                              "every candidate)")
    args, extra = parser.parse_known_args(argv)
    machine = machine_info("mujoco")
    t0 = time.perf_counter()
    code = cli_main(["eval", "closed-loop", "--json", str(args.out), "--verify-budget", args.verify_budget, *extra])
    if code:
        return code
    result = json.loads(args.out.read_text())
    result["what"] = __doc__.split("\n\n")[0]
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["machine"] = machine
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
