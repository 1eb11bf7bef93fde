"""Shared fixtures. Tests needing the real data find it via $SEMG_GRASP_DATA or ../shared/data
(beside this source tree, also when the tests run against a colcon install) and skip with a
clear reason when it is absent."""

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from semg_grasp_ros.errors import DatasetError
from semg_grasp_ros.paths import data_root as _data_root

REPO = Path(__file__).resolve().parent.parent
# An installed package (colcon, pip) cannot find ../shared/data from its own location: point it
# at the data folder beside this source tree unless the user chose one.
if not os.environ.get("SEMG_GRASP_DATA") and (REPO.parent / "shared" / "data").is_dir():
    os.environ["SEMG_GRASP_DATA"] = str(REPO.parent / "shared" / "data")


def pytest_configure(config):
    config.addinivalue_line("markers", "ros: needs rclpy (real ROS 2); skipped without it")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture(autouse=True)
def _package_logs_propagate():
    """Let the package's log records reach ``caplog``: with ROS 2 installed, launch_testing's
    pytest plugin imports ``launch``, whose logger class makes every logger created afterwards
    non-propagating (``LaunchLogger``), so records would never reach the root logger."""
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.split(".")[0] == "semg_grasp_ros":
            logger.propagate = True


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder (Sapsanis, Myo, hand models, DexGraspNet samples)."""
    try:
        return _data_root()
    except DatasetError as exc:
        pytest.skip(f"shared data not available: {exc}")


@pytest.fixture(scope="session")
def sapsanis_dir(data_root) -> Path:
    path = data_root / "emg" / "sapsanis" / "Database 1"
    if not path.is_dir():
        pytest.skip(f"Sapsanis data not found at {path}")
    return path


@pytest.fixture(scope="session")
def scripted_model():
    """``scripted_model(spec, class_names, probs)``: an ``IntentModel`` whose posteriors are
    the scripted rows ``probs`` (one per window, in order) -- decoder logic without a model."""
    from semg_grasp_ros.intent.base import IntentModel
    from semg_grasp_ros.intent.lda import LdaConfig

    class ScriptedModel(IntentModel):
        architecture = "scripted_test"
        config_type = LdaConfig

        def __init__(self, spec, class_names, probs):
            super().__init__(spec, tuple(class_names))
            self.probs = list(probs)
            self.fitted = True

        def encode(self, windows):
            return windows

        def fit_encoded(self, *a, **k):
            return self

        def predict_proba_encoded(self, inputs):
            return np.array([self.probs.pop(0) for _ in range(len(inputs))])

        def state(self):
            return {}

        def normaliser_shape(self):
            return (0,)

        def load_state(self, arrays):
            pass

    return ScriptedModel
