"""Crash-safe recording: a bag cut at any byte, or whose recorder (``record``, ``demo``) is
killed with SIGKILL, recovers to exactly the messages written first (at most 1 s lost to a
kill), readable by rosbags and by the independent ``mcap`` reader (what ``ros2 bag play`` reads)."""

import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from mcap_ros2.reader import read_ros2_messages

from semg_grasp_ros.cli import main
from semg_grasp_ros.errors import BagError
from semg_grasp_ros.pipeline.bag import BagWriter, bag_info, read_bag
from semg_grasp_ros.pipeline.bag_recovery import RECOVERED_KEY, needs_recovery, recover
from semg_grasp_ros.pipeline.bag_storage import OPEN_KEY, read_custom_data
from semg_grasp_ros.types import EmgChunk, Header

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from bench.crash_recovery import DEMO, RECORD, kill_and_recover, ok  # noqa: E402

PERIOD_NS = 20_000_000  # one EmgChunk every 20 ms of bag time
PROVENANCE = {"semg_grasp.provenance": '{"seed": 3}'}


def _chunk(i: int) -> EmgChunk:
    return EmgChunk(Header(i * PERIOD_NS, "emg"), 500.0, ("ch1", "ch2"), 10 * i, np.full((10, 2), float(i)))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A closed 200-message MCAP bag (4 s of bag time) with provenance in custom_data."""
    path = tmp_path_factory.mktemp("bags") / "full"
    with BagWriter(path, custom_data=PROVENANCE) as bag:
        assert read_custom_data(path) == {**PROVENANCE, OPEN_KEY: "recording"}  # metadata.yaml from the start
        for i in range(200):
            bag.write("emg/chunks", _chunk(i), i * PERIOD_NS)
    assert read_custom_data(path) == PROVENANCE  # rewritten at close
    return path


def _cut_copy(written: Path, folder: Path, size: int, keep_metadata: bool) -> Path:
    folder.mkdir()
    (folder / f"{folder.name}.mcap").write_bytes((written / "full.mcap").read_bytes()[:size])
    if keep_metadata:  # as the writer left it at the start
        text = (written / "metadata.yaml").read_text().replace("full.mcap", f"{folder.name}.mcap")
        (folder / "metadata.yaml").write_text(text)
    return folder


def test_cut_at_any_byte_recovers_exactly_the_written_prefix(written, tmp_path):
    size = (written / "full.mcap").stat().st_size
    cuts = sorted({0, 5, 8, 30, 100, size - 1, *np.random.default_rng(0).integers(0, size, 10).tolist()})
    for cut in cuts:
        bag = _cut_copy(written, tmp_path / f"cut{cut}", cut, keep_metadata=cut % 2 == 0)
        assert needs_recovery(bag)
        result = recover(bag)
        got = [obj for _, _, obj in read_bag(bag)]
        n = len(got)
        assert [c.first_sample_index for c in got] == [10 * i for i in range(n)], cut  # the prefix, in order
        assert all(np.all(c.data == i) for i, c in enumerate(got)), cut  # none corrupted
        assert sum(1 for _ in read_ros2_messages(str(bag / f"cut{cut}.mcap"))) == n
        assert result.messages == n == bag_info(bag).message_count
        assert not needs_recovery(bag)
        if cut >= 100 and cut % 2 == 0:
            assert read_custom_data(bag).keys() == {*PROVENANCE, RECOVERED_KEY}  # provenance kept
    # a cut inside the summary loses nothing
    assert result.messages == 200


def test_reading_recovers_with_a_warning_and_the_cli_explains(written, tmp_path, caplog, capsys):
    bag = _cut_copy(written, tmp_path / "killed", (written / "full.mcap").stat().st_size // 2, keep_metadata=True)
    with caplog.at_level(logging.WARNING):
        info = bag_info(bag)
    assert "not closed by its writer" in caplog.text and info.message_count > 50
    assert main(["bag", "recover", str(bag)]) == 0
    assert "nothing to recover" in capsys.readouterr().out
    assert main(["bag", "info", str(bag)]) == 0
    assert RECOVERED_KEY in capsys.readouterr().out


def test_recovery_refuses_a_bag_being_recorded(tmp_path):
    with BagWriter(tmp_path / "live") as bag:
        bag.write("emg/chunks", _chunk(0), 0)
        assert needs_recovery(tmp_path / "live")
        with pytest.raises(BagError, match="being recorded by a running process"):
            recover(tmp_path / "live")
    assert not needs_recovery(tmp_path / "live")


@pytest.mark.parametrize("command, storage, after_s", [
    ("record", "mcap", 0.0), ("record", "mcap", 0.7), ("record", "sqlite3", 0.4), ("demo", "mcap", 1.5),
])
def test_killed_recorder_loses_at_most_one_second(tmp_path, command, storage, after_s):
    out = tmp_path / "out"
    args = [*(RECORD if command == "record" else DEMO), "--out", str(out)]
    trial = kill_and_recover(args, out / "session" if command == "demo" else out, after_s, storage)
    assert ok(trial, max_lost_s=1.0), trial
    assert trial["lost_s"] <= 0.6  # flushed every 0.5 s of bag time (and of wall time)
