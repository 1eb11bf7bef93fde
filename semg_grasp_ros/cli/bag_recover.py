"""``semg-grasp bag recover DIR``: rebuild a bag whose writer died."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..pipeline.bag_recovery import needs_recovery, recover
from .args import bag_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Rebuild a bag whose writer died (a crash, kill -9, a power cut): the MCAP file is cut after its last "
        "intact chunk and closed (summary, footer), metadata.yaml is rewritten (sqlite3: from the committed "
        "messages). Recorders flush every 0.5 s, so at most that much is lost. Reading a bag (bag info, replay) "
        "does this automatically, with a warning.")
    parser.add_argument("bag", type=bag_dir, help="bag directory")


def run(args: argparse.Namespace) -> int:
    if not needs_recovery(Path(args.bag)):
        print(f"{args.bag} was closed by its writer: nothing to recover")
        return 0
    result = recover(args.bag)
    print(f"recovered {result.path}: {result.messages} messages kept, {result.bytes_dropped} incomplete bytes cut"
          + (f" ({result.problem})" if result.problem else ""))
    return 0
