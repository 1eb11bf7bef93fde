"""Config helpers: a settled config overridden by dotted names or nested mappings."""

import pytest

from semg_grasp_ros.config import build_config, override
from semg_grasp_ros.errors import ConfigError
from semg_grasp_ros.intent.decoder import DecoderConfig
from semg_grasp_ros.pipeline.grasp_classifier import GraspClassifierConfig


def test_override_reaches_nested_settings_and_keeps_the_others():
    base = GraspClassifierConfig(frame_id="emg")
    new = override(base, {"decoder.level.max_rms": (2.0,), "decoder": {"vote_window": 5}})
    assert new.decoder.level.max_rms == (2.0,) and new.decoder.vote_window == 5
    assert new.frame_id == "emg" and new.decoder.level.smoothing_s == base.decoder.level.smoothing_s
    assert new == build_config(GraspClassifierConfig, {"frame_id": "emg", "decoder.vote_window": 5,
                                                       "decoder": {"level": {"max_rms": [2.0]}}})
    assert base.decoder.vote_window == DecoderConfig().vote_window  # the original is unchanged


def test_override_refuses_unknown_names_and_invalid_values():
    with pytest.raises(ConfigError, match="unknown"):
        override(GraspClassifierConfig(), {"decoder.no_such_setting": 1})
    with pytest.raises(ConfigError):
        override(GraspClassifierConfig(), {"decoder.vote_window": 0})
