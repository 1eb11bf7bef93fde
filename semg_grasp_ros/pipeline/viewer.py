"""The Rerun viewer as a process: started on a recording file or empty for a live stream,
listening on 127.0.0.1 unless told otherwise, with its usage analytics turned off, and stopped
with everything it started. ``pipeline.view`` writes what it shows."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rerun_cli() -> list[str]:
    """The command line of the ``rerun`` viewer shipped with rerun-sdk."""
    exe = shutil.which("rerun", path=str(Path(sys.executable).parent)) or shutil.which("rerun")
    return [exe] if exe else [sys.executable, "-m", "rerun"]


def disable_analytics() -> None:
    """Turn the Rerun viewer's usage analytics off (``rerun analytics disable``) before starting one."""
    subprocess.run(rerun_cli() + ["analytics", "disable"], check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)


def start_viewer(rrd: str | Path | None = None, bind: str = "127.0.0.1", web: bool | None = None):
    """Start the Rerun viewer on ``rrd`` (or empty, for a live stream), listening on ``bind`` only.

    A native window where a display exists, else (or with ``web``) the web viewer over HTTP.

    Returns:
        (process, grpc_url for a live stream, web_url or None).
    """
    disable_analytics()
    web = (not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")) if web is None else web
    port, web_port = _free_port(), _free_port()
    cmd = rerun_cli() + ["--bind", bind, "--port", str(port)]
    if web:
        cmd += ["--web-viewer", "--web-viewer-port", str(web_port)]
    if rrd is not None:
        cmd.append(str(rrd))
    # its own process group: the ``rerun`` launcher starts the viewer binary as a child, and
    # stop_viewer ends both (terminating the launcher alone would leave the viewer running)
    process = subprocess.Popen(cmd, start_new_session=True)
    host = bind if ":" not in bind else f"[{bind}]"
    grpc = f"rerun+http://{host}:{port}/proxy"
    return process, grpc, (f"http://{host}:{web_port}/?url={quote(grpc, safe='')}" if web else None)


def stop_viewer(process: subprocess.Popen, timeout_s: float = 30.0, settle_s: float = 2.0) -> None:
    """End a viewer from :func:`start_viewer` and everything it started (its process group)."""
    import signal
    import time

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=timeout_s)
            os.killpg(process.pid, 0)  # children still alive in the group: escalate
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break
    process.wait()
    # a signalled child takes a moment to die: give the group up to settle_s to empty (children
    # orphaned in a container whose init does not reap them stay as zombies and end the wait)
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
