"""Bad command lines: each is refused before any work (argument parsing or the command's
``validate``), with one line on stderr saying what is wrong and what is valid, exit status 2,
no traceback. Runs in-process: every command's ``run`` is replaced by one that fails the test."""

import importlib
import shlex

import numpy as np
import pytest

from semg_grasp_ros.cli import COMMANDS, main
from semg_grasp_ros.pipeline.bag import BagWriter
from semg_grasp_ros.types import EmgChunk, Header


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Paths the invocations name: an existing folder, an empty folder, a good bag, a cut bag,
    a text file, a headerless CSV without a rate."""
    root = tmp_path_factory.mktemp("cli")
    (root / "empty").mkdir()
    (root / "folder").mkdir()
    (root / "text.txt").write_text("not a grasp file\n")
    (root / "norate.csv").write_text("1,2\n3,4\n")
    np.save(root / "x.npy", np.zeros(3))
    (root / "mesh.obj").write_text("v 0 0 0\n")
    (root / "cloud.ply").write_text("ply\n")
    (root / "params.yaml").write_text("emg_acquisition:\n  ros__parameters:\n    chunk_ms: 5000.0\n")
    with BagWriter(root / "bag") as bag:
        bag.write("emg/chunks", EmgChunk(Header(0), 500.0, ("a",), 0, np.zeros((5, 1))), 0)
    return root


# (command line with {d} = the fixture folder, words the one-line error must contain)
BAD = [
    # demo: ranges, files, names, the object's size, the models
    ("demo --duration -3", "--duration: expected a number >= 0 s, got -3"),
    ("demo --duration nan", "--duration"),
    ("demo --duration inf", "--duration"),
    ("demo --duration abc", "expected a number"),
    ("demo --scale 0", "--scale: expected a number > 0"),
    ("demo --scale -1", "--scale"),
    ("demo --seed -1", "--seed: expected an integer >= 0"),
    ("demo --seed 1.5", "--seed"),
    ("demo --out {d}/folder", "already exists"),
    ("demo --subject bob", "valid subjects: female_1, female_2, male_1"),
    ("demo --script rest:2,jump:3", "unknown grasp 'jump'"),
    ("demo --script rest:-2", "seconds must be a positive number"),
    ("demo --script rest", "not NAME:SECONDS"),
    ("demo --script ,", "empty script"),
    ("demo --emg-file {d}/folder", "is a folder; expected a file (.mat)"),
    ("demo --emg-file {d}/missing.mat", "does not exist"),
    ("demo --emg-file {d}/text.txt", "expected (.mat)"),
    ("demo --object box:50,50,50", "narrowest side is at most 0.2 m"),
    ("demo --object sphere:0.001", "too small"),
    ("demo --object cylinder:0.03", "needs 2 positive dimensions"),
    ("demo --object sphere:-1", "positive dimensions"),
    ("demo --object sphere:abc", "dimensions must be numbers"),
    ("demo --object teapot_nowhere", "expected exactly one"),
    ("demo --object bottle --scale 100", "narrowest side"),
    ("demo --intent-model nosuchmodel", "no "),
    ("demo --grasp-model nosuchmodel", "not found"),
    ("demo --storage zip", "invalid choice"),
    ("demo --realtime 3", "unrecognized arguments"),
    # record
    ("record --out {d}/new --duration -3", "--duration: expected a number > 0 s"),
    ("record --out {d}/new --duration 0", "--duration"),
    ("record --out {d}/folder", "already exists"),
    ("record --duration 1", "the following arguments are required: --out"),
    ("record --out {d}/new --source tape", "invalid choice: 'tape'"),
    ("record --out {d}/new --source csv", "needs 'file'"),
    ("record --out {d}/new --source csv --file {d}/norate.csv", "does not state its sample rate: give --rate"),
    ("record --out {d}/new --source csv --file {d}/missing.csv", "does not exist"),
    ("record --out {d}/new --source sapsanis --file {d}/folder", "is a folder"),
    ("record --out {d}/new --source sapsanis --file {d}/text.txt", "reads .mat files"),
    ("record --out {d}/new --source bag --file {d}/empty", "has no metadata.yaml"),
    ("record --out {d}/new --rate 0", "--rate: expected a number in (0, 100000] Hz"),
    ("record --out {d}/new --rate -500", "--rate"),
    ("record --out {d}/new --chunk-ms 0.1", "--chunk-ms: expected a number in [1, 1000] ms"),
    ("record --out {d}/new --channels 0", "--channels: expected an integer in [1, 256]"),
    ("record --out {d}/new --repetitions 0", "--repetitions"),
    ("record --out {d}/new --grasp-s -1", "--grasp-s"),
    ("record --out {d}/new --rest-s -1", "--rest-s"),
    ("record --out {d}/new --timeout 0", "--timeout"),
    ("record --out {d}/new --ip-port 70000", "--ip-port"),
    ("record --out {d}/new --seed -4", "--seed"),
    ("record --out {d}/new --params-file {d}/missing.yaml", "does not exist"),
    ("record --out {d}/new --params-file {d}/params.yaml", "chunk_ms must be in [1, 1000] ms"),
    ("record --out {d}/new --model bob", "valid subjects"),
    # run: the source's checks and the pipeline's
    ("run --source csv --file {d}/norate.csv", "does not state its sample rate"),
    ("run --source bag --file {d}/empty", "has no metadata.yaml"),
    ("run --duration -1", "--duration"),
    ("run --out {d}/folder", "already exists"),
    ("run --object box:5,5,5", "narrowest side"),
    ("run --source simulated --model bob", "valid subjects"),
    # bags
    ("bag info {d}/empty", "has no metadata.yaml"),
    ("bag info {d}/missing", "folder {d}/missing does not exist"),
    ("bag info {d}/text.txt", "is a file; expected a folder"),
    ("bag recover {d}/empty", "has no metadata.yaml"),
    ("bag", None),
    ("replay {d}/missing", "does not exist"),
    ("replay {d}/empty", "has no metadata.yaml"),
    ("replay {d}/bag --seed -1", "--seed"),
    ("replay {d}/bag --json {d}/folder", "is a folder; expected a file name (.json)"),
    ("replay {d}/bag --json {d}/out.txt", "expected (.json)"),
    # grasp files, distance fields
    ("eval grasps {d}/missing.npy --json {d}/o.json", "does not exist"),
    ("eval grasps {d}/folder --json {d}/o.json", "is a folder; expected a file (.npy, .npz)"),
    ("eval grasps {d}/text.txt --json {d}/o.json", "expected (.npy, .npz)"),
    ("eval grasps {d}/x.npy --json {d}/o.json --limit -1", "--limit: expected an integer >= 1, got -1"),
    ("eval grasps {d}/x.npy --json {d}/o.json --workers 0", "--workers"),
    ("eval grasps {d}/x.npy --json {d}/o.json --scale 0", "--scale"),
    ("eval grasps {d}/x.npy", "required: --json"),
    ("sdf --mesh {d}/missing.obj --out {d}/o.npz", "does not exist"),
    ("sdf --cloud {d}/text.txt --out {d}/o.npz", "has suffix '.txt'"),
    ("sdf --mesh {d}/mesh.obj --cloud {d}/cloud.ply --out {d}/o.npz", "not allowed with argument"),
    ("sdf --mesh {d}/text.txt --out {d}/o.npz --size 1", "--size: expected an integer in [2, 512]"),
    ("sdf --mesh {d}/text.txt --out {d}/o.npz --margin -0.1", "--margin"),
    ("sdf --mesh {d}/text.txt --out {d}/o.txt", "expected (.npz)"),
    ("nosuchcommand", "invalid choice"),
]


@pytest.fixture(autouse=True)
def no_work(monkeypatch):
    """Any command reaching ``run`` fails the test: bad input must be refused before."""
    def refuse(args):
        raise AssertionError(f"run() reached with {args}")

    for _, module, _ in COMMANDS:
        monkeypatch.setattr(importlib.import_module(module), "run", refuse)


def test_at_least_sixty_bad_invocations():
    assert len(BAD) >= 60


@pytest.mark.parametrize("line, expected", BAD, ids=[b[0][:50] for b in BAD])
def test_bad_invocation_is_refused_in_one_line(files, capsys, line, expected):
    argv = shlex.split(line.format(d=files))
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    if expected is None:  # a command group without its command: the usage is the message
        return
    assert len(lines) == 1 and "Traceback" not in err, err
    assert expected.format(d=files) in lines[0], lines[0]
