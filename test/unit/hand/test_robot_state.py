"""TF of every hand link from joint states: the parent <- link transforms chained from the root
give the kinematics' link poses; fixed links and the scene go on tf_static."""

import numpy as np

from semg_grasp_ros.hand.kinematics import HandKinematics
from semg_grasp_ros.hand.model import FINGER_JOINTS, WRIST_JOINTS
from semg_grasp_ros.pipeline.robot_state import RobotStatePublisher
from semg_grasp_ros.types import Header, JointState


def test_joint_state_to_tf_of_every_moving_link():
    rsp = RobotStatePublisher("rh_palm")
    q = np.random.default_rng(0).uniform(-0.3, 1.0, 22)
    state = JointState(Header(42, ""), WRIST_JOINTS + FINGER_JOINTS, np.concatenate([[0.1, -0.2], q]))
    (tf,) = rsp.on_joint_state(state)
    (_, static) = rsp.static_messages(7, {"camera": np.eye(4)})
    assert {t.header.stamp_ns for t in tf.transforms} == {42} and len(tf.transforms) == 22
    parent = {t.child_frame_id: (t.header.frame_id, t.transform.matrix()) for t in tf.transforms + static.transforms}
    assert parent["camera"][0] == "world"
    fk = HandKinematics.load("free")
    expected = fk.link_poses(q[None]).numpy()[0]
    for i, link in enumerate(fk.link_names[1:], start=1):  # chain to the root, rh_palm
        pose, frame = np.eye(4), link
        while frame != "rh_palm":
            frame, m = parent[frame]
            pose = m @ pose
        np.testing.assert_allclose(pose, expected[i], atol=1e-9, err_msg=link)
    (tf2,) = rsp.on_joint_state(JointState(Header(43, ""), FINGER_JOINTS, q))  # same configuration: same poses
    assert tf2.transforms[3].transform is tf.transforms[3].transform and tf2.transforms[3].header.stamp_ns == 43


def test_robot_description_points_at_mesh_files_a_bag_viewer_can_open():
    from pathlib import Path
    from urllib.parse import unquote, urlparse

    (description, _) = RobotStatePublisher("rh_forearm").static_messages(7, {})
    uris = [line.split('"')[1] for line in description.data.splitlines() if "<mesh filename=" in line]
    assert uris and all(u.startswith("file://") and Path(unquote(urlparse(u).path)).is_file() for u in uris)
