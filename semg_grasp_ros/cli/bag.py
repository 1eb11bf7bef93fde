"""``semg-grasp bag info DIR``: topics, types, counts, duration and custom data of a ROS 2 bag."""

from __future__ import annotations

import argparse

from ..pipeline.bag import bag_info
from .args import bag_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=bag_dir, help="bag directory (MCAP or sqlite3), as written by `semg-grasp record` or `ros2 bag record`")


def run(args: argparse.Namespace) -> int:
    info = bag_info(args.bag)
    print(f"bag:       {info.path}")
    print(f"duration:  {info.duration:.3f} s")
    print(f"messages:  {info.message_count}")
    width = max((len(t) for t, _, _ in info.topics), default=5)
    print(f"{'topic':<{width}}  {'count':>7}  type")
    for topic, msgtype, count in info.topics:
        print(f"{topic:<{width}}  {count:>7}  {msgtype}")
    for key, value in sorted(info.custom_data.items()):
        print(f"{key}: {value}")
    return 0
