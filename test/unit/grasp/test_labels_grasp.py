"""Grasp-type labels: the type definitions, the hand-pose descriptor, the reference-grasp method,
and their confusion on hand-labelled examples (test/unit/grasp/data/grasp_type_labels.json)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from semg_grasp_ros import GRASP_TYPES
from semg_grasp_ros.errors import DataError
from semg_grasp_ros.grasp.data import labels as lb
from semg_grasp_ros.grasp.data.dataset import arrays_to_grasps, grasps_to_arrays
from semg_grasp_ros.grasp.representation import SPECS, spec, type_index
from semg_grasp_ros.hand.kinematics import HandKinematics
from semg_grasp_ros.hand.model import FINGER_JOINTS, load_hand
from semg_grasp_ros.perception.sdf import DistanceField

LABELS = Path(__file__).parent / "data" / "grasp_type_labels.json"


def test_six_types_in_package_order_with_valid_definitions():
    assert tuple(SPECS) == GRASP_TYPES
    lo, hi = load_hand("free").limits()
    for name, s in SPECS.items():
        q = s.preshape_vector()
        assert np.all(q >= lo - 1e-9) and np.all(q <= hi + 1e-9), name
        assert s.contacts and s.approach in ("palm", "pinch")
        assert s.width[0] < s.width[1]
        for r in s.descriptor:
            assert r.feature in lb.DESCRIPTORS and r.lo <= r.hi and r.scale > 0
        assert np.all(s.prior_weights() > 0)
    assert type_index("lateral") == 5
    with pytest.raises(DataError):
        spec("power")
    assert not SPECS["hook"].palm_contact and all(p.link.startswith("rh_th") for p in SPECS["hook"].clear[:2])
    assert "th" not in SPECS["hook"].fingers and "th" in SPECS["tip"].fingers


def test_preshapes_classify_as_their_type():
    q = np.stack([SPECS[t].preshape_vector() for t in GRASP_TYPES[:5]])
    np.testing.assert_array_equal(lb.classify(q), np.arange(5))


def test_descriptors_against_independent_values():
    q = np.zeros((1, 22))
    i = {n: k for k, n in enumerate(FINGER_JOINTS)}
    q[0, i["rh_THJ4"]] = 0.7
    q[0, i["rh_FFJ4"]], q[0, i["rh_RFJ4"]], q[0, i["rh_LFJ4"]] = -0.3, -0.3, 0.0
    q[0, i["rh_MFJ3"]], q[0, i["rh_MFJ2"]], q[0, i["rh_MFJ1"]] = 1.0, 1.0, 0.5  # 2.5 rad: flexed and curled
    d = dict(zip(lb.DESCRIPTORS, lb.descriptors(q)[0]))
    assert d["thumb_opposition"] == pytest.approx(0.7)
    assert d["spread"] == pytest.approx(0.2)
    assert d["fingers_flexed"] == 1 and d["curled_others"] == 1
    assert d["mcp_flexion"] == pytest.approx(0.25) and d["pipdip_flexion"] == pytest.approx(1.5 / 4)
    assert d["index_vs_others"] == pytest.approx(2.5 / 3)
    # aperture: thumb tip to the nearer of the index and middle tips, by an FK of the other (fixed) hand
    fk = HandKinematics.load("fixed")
    tips = fk.fingertips(torch.as_tensor(np.concatenate([[0.0, 0.0], q[0]]))[None])[0].numpy()
    expect = min(np.linalg.norm(tips[4] - tips[0]), np.linalg.norm(tips[4] - tips[1]))
    assert d["aperture"] == pytest.approx(expect, abs=0.003)  # the two models differ by ~2 mm
    assert np.all(np.isnan([d[k] for k in lb.CONTACT_DESCRIPTORS]))
    with pytest.raises(DataError):
        lb.descriptors(np.full(22, np.nan))


def _sphere_field(radius=0.03, n=40, span=0.2):
    origin = np.full(3, -span / 2)
    voxel = span / (n - 1)
    ax = origin[0] + voxel * np.arange(n)
    X = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1)
    return DistanceField((np.linalg.norm(X, axis=-1) - radius).astype(np.float32), origin, voxel, True,
                         np.zeros(3), np.full(3, 2 * radius))


def test_contact_descriptors_see_palm_and_thumb():
    q = np.zeros((2, 22))
    eye = np.broadcast_to(np.eye(3), (2, 3, 3))
    # palm face (y = -0.011 in the palm frame, at z = 0.04) 1 mm from a sphere of radius 3 cm; far away
    trans = np.array([[0.0, 0.03 + 0.0121, -0.04], [0.0, 0.5, 0.0]])
    d = lb.contact_descriptors(q, eye, trans, _sphere_field())
    assert d[0, 0] == 1 and d[0, 1] == 0 and d[1].sum() == 0


def test_reference_labeller_threshold_and_nearest():
    refs = np.zeros((2, 28))
    refs[1, :22] = 1.0
    lab = lb.ReferenceLabeller(refs, np.array([1, 4]), threshold=0.5)
    g = np.zeros((3, 28))
    g[1, :22] = 0.95
    g[2, :22] = 0.5
    np.testing.assert_array_equal(lab.label(g), [1, 4, -1])
    wrist = np.zeros((1, 28))
    wrist[0, 25:] = 10.0  # far only in the wrist translation
    assert lab.label(wrist)[0] == -1
    assert lb.ReferenceLabeller(refs, np.array([1, 4]), 0.5, joints_only=True).label(wrist)[0] == 1
    with pytest.raises(DataError):
        lb.ReferenceLabeller(refs, np.array([1]), 0.5)
    with pytest.raises(DataError):
        lb.ReferenceLabeller(refs, np.array([1, 9]), 0.5)


def test_confusion_counts():
    c = lb.confusion([0, 0, 1, -1, 2], [0, 1, 1, 0, -1])
    m = np.array(c["matrix"])
    assert m.shape == (7, 7) and m.sum() == 5
    assert m[0, 0] == 1 and m[0, 1] == 1 and m[1, 1] == 1 and m[6, 0] == 1 and m[2, 6] == 1
    assert c["accuracy"] == pytest.approx(2 / 4) and c["coverage"] == pytest.approx(3 / 4)
    with pytest.raises(DataError):
        lb.confusion([0], [0, 1])


def _labelled(data_root=None):
    doc = json.loads(LABELS.read_text())
    rows = []
    for e in doc["examples"]:
        if e["source"] == "synthesis":
            rows.append((e["source"], np.array(e["grasp"]), e["label"]))
        elif data_root is not None:
            from semg_grasp_ros.grasp.data.dexgraspnet import load_grasps

            g = load_grasps(data_root / "grasps" / "dexgraspnet_sample" / "dataset" / f"{e['object_code']}.npy")
            i = e["index"]
            assert g.scale[i] == pytest.approx(e["scale"])
            rows.append((e["source"], arrays_to_grasps(g.joints[i:i + 1], g.rot[i:i + 1], g.trans[i:i + 1])[0], e["label"]))
    return rows


def test_hand_labels_file_is_well_formed():
    doc = json.loads(LABELS.read_text())
    assert len(doc["examples"]) >= 60
    seen = {e["label"] for e in doc["examples"]}
    assert seen - {None} == set(GRASP_TYPES)  # every type has hand-labelled examples


def test_descriptor_agrees_with_hand_labels_on_synthesised_grasps():
    rows = _labelled()
    g = np.array([r[1] for r in rows])
    y = np.array([GRASP_TYPES.index(r[2]) for r in rows])
    joints, _, _ = grasps_to_arrays(g)
    c = lb.confusion(y, lb.classify(joints))
    assert c["accuracy"] >= 0.9, c


def test_descriptor_beats_reference_grasps_on_dexgraspnet_hand_labels(data_root):
    if not (data_root / "grasps" / "dexgraspnet_sample").is_dir():
        pytest.skip("DexGraspNet sample not available")
    rows = [r for r in _labelled(data_root) if r[0] != "synthesis"]
    g = np.array([r[1] for r in rows])
    y = np.array([-1 if r[2] is None else GRASP_TYPES.index(r[2]) for r in rows])
    joints, _, _ = grasps_to_arrays(g)
    desc = lb.confusion(y, lb.classify(joints))
    # the original method: the first hand-labelled grasp of each type as its reference, threshold
    # at the median distance to the nearest reference
    first = {t: i for i, t in reversed(list(enumerate(y))) if t >= 0}
    refs = g[list(first.values())]
    d = np.linalg.norm(g[:, None] - refs[None], axis=-1).min(1)
    ref = lb.ReferenceLabeller(refs, np.array(list(first)), float(np.median(d)))
    other = np.setdiff1d(np.arange(len(g)), list(first.values()))
    ref_c = lb.confusion(y[other], ref.label(g[other]))
    assert desc["accuracy"] >= 0.7, desc
    assert desc["accuracy"] > ref_c["accuracy"]
