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
