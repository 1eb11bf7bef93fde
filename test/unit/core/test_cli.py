"""The `semg-grasp` command: help, clear errors for user mistakes, bag info."""

import subprocess
import sys

import numpy as np

from semg_grasp_ros.cli import COMMANDS, main
from semg_grasp_ros.pipeline.bag import BagWriter
from semg_grasp_ros.types import EmgChunk, Header


def test_help_lists_every_command(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for words, _, _ in COMMANDS:
        assert words[0] in out


def test_every_command_module_has_arguments_and_run():
    import importlib

    for words, module, help_text in COMMANDS:
        mod = importlib.import_module(module)
        assert callable(mod.add_arguments) and callable(mod.run), words
        assert help_text


def test_bag_info_prints_topics_and_counts(tmp_path, capsys):
    path = tmp_path / "bag"
    with BagWriter(path) as bag:
        for i in range(3):
            bag.write("emg/chunks", EmgChunk(Header(i), 500.0, ("a",), i * 5, np.zeros((5, 1))), i * 10_000_000)
    assert main(["bag", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "/emg/chunks" in out and "semg_grasp_ros/msg/EmgChunk" in out and "0.020 s" in out


def test_user_mistake_is_one_line_and_exit_2():
    proc = subprocess.run([sys.executable, "-m", "semg_grasp_ros.cli", "bag", "info", "/no/such/bag"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
