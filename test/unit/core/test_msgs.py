"""The package's .msg files are the single source of the standalone types."""

import numpy as np
import pytest

from semg_grasp_ros.errors import DataError
from semg_grasp_ros.msgs.convert import MSGTYPES, from_msg, to_msg
from semg_grasp_ros.msgs.typestore import RosbagsFactory, package_msg_definitions, typestore
from semg_grasp_ros.paths import resource
from semg_grasp_ros.types import EmgChunk, Header


def test_every_msg_file_is_registered_with_its_fields():
    store = typestore()
    defs = package_msg_definitions()
    assert set(defs) == {f"semg_grasp_ros/msg/{p.stem}" for p in resource("msg").glob("*.msg")}
    for name, text in defs.items():
        fields = [line.split("#")[0].split()[1] for line in text.splitlines()
                  if line.split("#")[0].strip() and "=" not in line.split("#")[0]]
        assert [f for f, _ in store.fielddefs[name][1]] == fields


def test_every_domain_type_maps_to_a_known_message():
    store = typestore()
    for msgtype in MSGTYPES.values():
        assert msgtype in store.types


def test_inconsistent_array_lengths_are_data_errors():
    f = RosbagsFactory()
    msg = to_msg(EmgChunk(Header(), 500.0, ("a", "b"), 0, np.zeros((4, 2))), f)
    msg.sample_count = 5
    with pytest.raises(DataError, match="sample_count"):
        from_msg(msg)
    with pytest.raises(DataError, match="no domain mapping"):
        from_msg(f.new("std_msgs/msg/Header"))


def test_tf_text_and_pose_array_round_trip():
    from semg_grasp_ros.types import Pose, PoseArray, Text, TfMessage, TransformStamped

    f = RosbagsFactory()
    a = TransformStamped(Header(5, "world"), "camera", Pose([1.0, 2.0, 3.0], [0.0, 0.0, 1.0, 0.0]))
    b = TransformStamped(Header(5, "rh_palm"), "rh_ffknuckle", Pose([0.033, 0.0, 0.095]))
    many = from_msg(to_msg(TfMessage((a, b)), f))
    assert isinstance(many, TfMessage) and [t.child_frame_id for t in many.transforms] == ["camera", "rh_ffknuckle"]
    np.testing.assert_allclose(many.transforms[0].transform.orientation, [0, 0, 1, 0])
    one = from_msg(to_msg(a, f))  # one transform: the wrist TF of the hand controller
    assert isinstance(one, TransformStamped) and one.header.frame_id == "world"
    assert from_msg(to_msg(Text("<robot/>"), f)) == Text("<robot/>")
    poses = from_msg(to_msg(PoseArray(Header(7, "cam"), (a.transform, b.transform)), f))
    assert poses.header.stamp_ns == 7 and len(poses.poses) == 2
    np.testing.assert_allclose(poses.poses[1].position, [0.033, 0.0, 0.095])
