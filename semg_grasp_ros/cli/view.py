"""``semg-grasp view SESSION``: a recorded session in 3D on a timeline (Rerun).

    semg-grasp view runs/demo-20260101-090000              # opens the viewer (web viewer without a display)
    semg-grasp view runs/demo-20260101-090000 --save view.rrd   # a file to share (``rerun view.rrd``)

SESSION is a session folder of ``demo`` or ``run`` (its ``session/`` bag) or a bag. The viewer
listens on 127.0.0.1 only (``--bind`` to change it) and its usage analytics are turned off.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import BagError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="a session folder of `demo` or `run`, or a bag")
    parser.add_argument("--save", help="write the recording to this .rrd file instead of opening a viewer")
    parser.add_argument("--bind", default="127.0.0.1", help="address the viewer listens on (default %(default)s)")
    parser.add_argument("--web", action="store_true", help="the web viewer even where a display exists")


def session_bag(path: str | Path) -> Path:
    """The bag of a session folder (``SESSION/session``) or the bag itself."""
    path = Path(path)
    if (path / "session").is_dir():
        return path / "session"
    if path.is_dir() or path.suffix == ".mcap":
        return path
    raise BagError(f"{path} is neither a session folder (with session/) nor a bag")


def run(args: argparse.Namespace) -> int:
    from ..pipeline.view import APPLICATION_ID, blueprint, import_rerun, view_bag
    from ..pipeline.viewer import start_viewer, stop_viewer

    rr = import_rerun()
    bag = session_bag(args.session)
    out = Path(args.save) if args.save else bag.parent / "view.rrd"
    if args.save and out.suffix != ".rrd":
        raise BagError(f"--save {out}: a Rerun recording file ends in .rrd")
    t0 = time.perf_counter()
    rec = rr.RecordingStream(APPLICATION_ID, recording_id=str(bag.resolve()))
    rec.save(str(out), default_blueprint=blueprint())
    view = view_bag(bag, rec)
    rec.flush()
    rec.disconnect()
    print(f"wrote {out} ({sum(view.counts.values())} messages of {len(view.counts)} topics, "
          f"{time.perf_counter() - t0:.1f} s)")
    if args.save:
        return 0
    process, _, web = start_viewer(out, bind=args.bind, web=args.web or None)
    print(f"Rerun viewer{' at ' + web if web else ''}; Ctrl-C closes it")
    try:
        process.wait()
    except KeyboardInterrupt:
        stop_viewer(process)
    return 0
