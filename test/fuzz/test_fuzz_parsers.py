"""Fuzz tier: random and adversarial bytes for every parser of the project. Each parser
gets ``CASES`` inputs (seeded; mutations of valid seeds: truncation, bit flips, large
length fields, splices, odd tokens, and plain random bytes) and may only succeed or raise
the project's own error (``SemgGraspError``): no other exception, no hang (pytest-timeout),
bounded memory (peak RSS growth). The suite runs 2,000 cases per parser (about two minutes
here); ``SEMG_GRASP_FUZZ_CASES=10000 python -m pytest test/fuzz`` runs the full tier
(about ten minutes on a loaded 2-core machine)."""

import io
import json
import os
import resource
import shutil
from pathlib import Path

import numpy as np
import pytest

from semg_grasp_ros.errors import SemgGraspError

CASES = int(os.environ.get("SEMG_GRASP_FUZZ_CASES", "2000"))
TOKENS = [b"nan", b"inf", b"-", b"1e308", b"-1", b"0", b",", b"\n", b"#", b":", b"{", b"}", b"[", b"]", b'"', b"\x00",
          "é".encode(), b"\xff", b"null", b"true", b" ", b"\t", b"&a", b"*a", b"!!python/object", b"9" * 40]
INTERESTING = [b"\x00" * 8, b"\xff" * 8, b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", (2**31).to_bytes(4, "little"),
               (2**40).to_bytes(8, "little"), b"\x01\x00\x00\x00"]


def mutants(seeds: list[bytes], n: int, seed: int = 0):
    """``n`` inputs: plain random bytes and mutations of ``seeds`` (deterministic)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        kind = i % 8
        if kind == 0 or not seeds:
            yield rng.bytes(int(rng.integers(0, 64 if i % 16 else 600)))
            continue
        data = bytearray(seeds[int(rng.integers(len(seeds)))])
        pos = int(rng.integers(0, len(data) + 1))
        if kind == 1:  # truncation
            yield bytes(data[:pos])
        elif kind == 2:  # a few random bytes changed
            for _ in range(int(rng.integers(1, 9))):
                if data:
                    data[int(rng.integers(len(data)))] = int(rng.integers(256))
            yield bytes(data)
        elif kind == 3:  # a length-like field made huge, zero or negative
            value = INTERESTING[int(rng.integers(len(INTERESTING)))]
            yield bytes(data[:pos] + value + data[pos + len(value):])
        elif kind == 4:  # random bytes spliced in
            yield bytes(data[:pos] + rng.bytes(int(rng.integers(1, 32))) + data[pos + int(rng.integers(0, 32)):])
        elif kind == 5:  # a token inserted (text formats)
            yield bytes(data[:pos] + TOKENS[int(rng.integers(len(TOKENS)))] + data[pos:])
        elif kind == 6:  # a span deleted or repeated
            end = min(len(data), pos + int(rng.integers(1, 64)))
            yield bytes(data[:pos] + data[end:]) if rng.random() < 0.5 else bytes(data[:end] + data[pos:])
        else:  # untouched seed: must parse
            yield bytes(data)


def run_fuzz(parse, seeds: list[bytes], n: int = CASES) -> None:
    """Feed ``n`` mutants to ``parse(bytes)``: any exception other than the project's fails."""
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    failures = []
    for i, data in enumerate(mutants(seeds, n)):
        try:
            parse(data)
        except SemgGraspError:
            pass
        except Exception as exc:  # noqa: BLE001 - what the fuzz tier looks for
            failures.append(f"case {i} ({len(data)} bytes {data[:40]!r}): {type(exc).__name__}: {exc}"[:300])
            if len(failures) >= 5:
                break
    assert not failures, "\n".join(failures)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert grown_mb < 500, f"peak memory grew by {grown_mb:.0f} MB"


@pytest.fixture
def as_file(tmp_path):
    """``as_file(name, loader)``: a parser of bytes that writes them to ``name`` and loads it."""
    def make(name, loader):
        path = tmp_path / name

        def parse(data):
            path.write_bytes(data)
            return loader(path)

        return parse

    return make


# --------------------------------------------------------------------------------------- messages

def _samples():
    from semg_grasp_ros.types import (
        EmgChunk, GraspIntent, HandGrasp, HandGraspArray, Header, JointState, ObjectSdf, PointCloud, Pose,
    )

    h = Header(1_500_000_123, "world")
    pose = Pose([0.1, -0.2, 0.3], [0.0, 0.0, 0.0, 1.0])
    grasp = HandGrasp(h, "tip", pose, ("rh_FFJ4", "rh_FFJ3"), [0.1, -0.2], 0.7, 0.001, 0.004)
    rng = np.random.default_rng(0)
    return [EmgChunk(h, 500.0, ("ch1", "ch2"), 12345, rng.normal(size=(4, 2))),
            GraspIntent(h, "hook", 2, 0.8, ("a", "b", "c"), [0.1, 0.1, 0.8], 0.25),
            ObjectSdf(h, pose, 0.004, rng.random((2, 3, 2)), True, [1, 2, 3], [0.1, 0.2, 0.3]),
            grasp, HandGraspArray(h, (grasp,)), PointCloud(h, rng.random((5, 3))),
            JointState(h, ("j1", "j2"), [0.5, 0.6], [0.0, 0.1])]


@pytest.mark.parametrize("index", range(7), ids=["EmgChunk", "GraspIntent", "ObjectSdf", "HandGrasp",
                                                  "HandGraspArray", "PointCloud2", "JointState"])
def test_messages(index):
    from semg_grasp_ros.msgs.convert import from_cdr, msgtype_of, to_msg
    from semg_grasp_ros.msgs.typestore import RosbagsFactory, typestore

    store = typestore()
    obj = _samples()[index]
    msgtype = msgtype_of(obj)
    raw = bytes(store.serialize_cdr(to_msg(obj, RosbagsFactory(store)), msgtype))
    run_fuzz(lambda data: from_cdr(data, msgtype, store.deserialize_cdr), [raw])


def test_pointcloud2_layout():
    """PointCloud2 header fields (steps, sizes, field offsets and types) with any bytes."""
    from semg_grasp_ros.perception.pointcloud2 import decode_pointcloud2, encode_pointcloud2

    msg = encode_pointcloud2(np.random.default_rng(0).random((6, 3)).astype(np.float32))
    fields = [(f["name"], f["offset"], f["datatype"], f["count"]) for f in msg["fields"]] if isinstance(
        msg["fields"][0], dict) else list(msg["fields"])
    rng = np.random.default_rng(1)

    def parse(data):
        # the layout integers come from the first bytes: anything a sender may claim
        ints = np.frombuffer(data[:24].ljust(24, b"\0"), dtype=np.int32)
        f = [(name, int(ints[i % 6]) % 64 if i % 2 else off, int(ints[(i + 1) % 6]) % 12 if i == 1 else dt,
              cnt if i != 2 else int(ints[5]) % 4) for i, (name, off, dt, cnt) in enumerate(fields)]
        return decode_pointcloud2(f, data[24:], int(ints[0]) % 64, int(ints[1]) % 2048, int(ints[2]) % 8,
                                  int(ints[3]) % 64, bool(ints[4] & 1), max_points=int(ints[5]) % 100 or None)

    seed = np.array([0, 12 * 6, 1, 6, 0, 0], np.int32).tobytes()[:24] + bytes(msg["data"])
    del rng
    run_fuzz(parse, [seed])


# ------------------------------------------------------------------------------------------ files

def test_csv(as_file):
    from semg_grasp_ros.emg.csvfile import read_csv

    seeds = [b"# sample_rate_hz=1000\nflexor,extensor\n1,2\n3,4\n", b"time_s,a\n0.000,1\n0.002,2\n0.004,3\n",
             b"1.5,-2e-3\n3,4\n"]
    run_fuzz(as_file("x.csv", read_csv), seeds)


def test_mat(as_file):
    from scipy.io import savemat

    from semg_grasp_ros.emg.datasets import SAPSANIS_PREFIX, load_ninapro, load_sapsanis

    rng = np.random.default_rng(0)
    sapsanis = {f"{p}_ch{c}": rng.normal(size=(2, 6)) for p in SAPSANIS_PREFIX.values() for c in (1, 2)}
    ninapro = {"emg": rng.normal(size=(20, 2)), "restimulus": np.repeat([0, 1], 10)[:, None],
               "rerepetition": np.ones((20, 1)), "frequency": np.array([[100.0]])}
    seeds = []
    for variables in (sapsanis, ninapro):
        buf = io.BytesIO()
        savemat(buf, variables)
        seeds.append(buf.getvalue())
    sap, nin = as_file("s.mat", load_sapsanis), as_file("n.mat", load_ninapro)
    run_fuzz(lambda data: (sap if data[:1] != b"N" else nin)(data), seeds, CASES // 2)
    run_fuzz(nin, seeds, CASES // 2)


def test_npy_grasps(as_file):
    from semg_grasp_ros.grasp.data.dexgraspnet import load_grasps

    qpos = {name: 0.1 for name in ("WRJTx", "WRJTy", "WRJTz", "WRJRx", "WRJRy", "WRJRz")}
    entries = np.array([{"qpos": qpos, "scale": 0.1}, {"qpos": dict(qpos), "scale": 0.08}], dtype=object)
    buf = io.BytesIO()
    np.save(buf, entries, allow_pickle=True)
    run_fuzz(as_file("g.npy", load_grasps), [buf.getvalue()])


def test_npz_fields(as_file):
    from semg_grasp_ros.perception.sdf import DistanceField

    buf = io.BytesIO()
    np.savez(buf, distances=np.zeros((3, 3, 3), np.float32), origin=np.zeros(3), voxel_size=0.01, is_signed=True,
             centroid=np.zeros(3), extent=np.ones(3))
    run_fuzz(as_file("f.npz", DistanceField.load_npz), [buf.getvalue()])


def test_yaml_configs(as_file):
    from semg_grasp_ros.config import build_config, read_parameters
    from semg_grasp_ros.paths import resource
    from semg_grasp_ros.pipeline.emg_acquisition import EmgAcquisitionConfig

    seed = resource("config", "emg_acquisition.yaml").read_bytes()
    run_fuzz(as_file("p.yaml", lambda p: build_config(EmgAcquisitionConfig, read_parameters("emg_acquisition", p))),
             [seed])


def test_model_json_and_safetensors(tmp_path):
    from semg_grasp_ros.checkpoint import load_weights, read_json
    from semg_grasp_ros.emg.simulator.model import SimulatorModel, shipped_subjects
    from semg_grasp_ros.paths import resource

    js = resource("models", "intent_default.json").read_bytes()
    weights = resource("models", "intent_default.safetensors").read_bytes()
    simulator = next(iter(shipped_subjects().values())).read_bytes()
    path = tmp_path / "m.json"

    def parse(data):
        path.write_bytes(data)
        if data[:1] == b"{" or not data:
            read_json(path)
            return SimulatorModel.load(path)
        return load_weights(path)

    run_fuzz(parse, [js, simulator, weights[:4096] if len(weights) > 65536 else weights])


def test_intent_checkpoint(tmp_path):
    from semg_grasp_ros.intent.models import load_model
    from semg_grasp_ros.paths import resource

    json_bytes = resource("models", "intent_default.json").read_bytes()
    weights = resource("models", "intent_default.safetensors").read_bytes()
    (tmp_path / "m.safetensors").write_bytes(weights)
    (tmp_path / "m.json").write_bytes(json_bytes)

    def parse(data):
        target = "m.json" if data[:1] == b"{" else "m.safetensors"
        (tmp_path / target).write_bytes(data)
        try:
            return load_model(tmp_path / "m")
        finally:
            (tmp_path / "m.json").write_bytes(json_bytes)
            (tmp_path / "m.safetensors").write_bytes(weights)

    run_fuzz(parse, [json_bytes, weights], CASES // 10)


def test_bags(tmp_path):
    """MCAP files of any bytes: the recovery scan (``CASES``), and bag_info / read_bag of the bag
    folder (recovering it, through rosbags' reader: slower) on a twentieth of them."""
    from semg_grasp_ros.pipeline.bag import BagWriter, bag_info, read_bag
    from semg_grasp_ros.pipeline.mcap_scan import scan_mcap

    with BagWriter(tmp_path / "seed") as bag:
        for i, obj in enumerate(_samples()):
            bag.write("emg/chunks" if i == 0 else f"t{i}", obj, i * 400_000_000)
    seed = (tmp_path / "seed" / "seed.mcap").read_bytes()
    path = tmp_path / "scan.mcap"

    def scan(data):
        path.write_bytes(data)
        return scan_mcap(path)

    run_fuzz(scan, [seed])
    folder = tmp_path / "b"

    def read(data):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        (folder / "b.mcap").write_bytes(data)
        bag_info(folder)
        return list(read_bag(folder))

    run_fuzz(read, [seed], CASES // 20)
