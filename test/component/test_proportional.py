"""The proportional-closing benchmark's simulated user: a held effort is a constant activation."""

import numpy as np

from semg_grasp_ros.emg.simulator.model import SimulatorModel
from semg_grasp_ros.pipeline.proportional import effort_signal


def test_a_held_effort_is_a_constant_activation():
    model = SimulatorModel.shipped("male_1")  # the strongest onset burst of the fitted users
    data, activation = effort_signal(model, "hook", [(0.5, 1.5), (0.8, 1.0)], seed=0, rest_s=0.5)
    fs = data.shape[0] / 3.0
    first, second = activation[int(1.2 * fs):int(2.0 * fs)], activation[int(2.2 * fs):]
    assert np.allclose(first, 0.5) and np.allclose(second, 0.8)  # no burst decaying through the hold
    assert np.all(activation[: int(0.5 * fs)] == 0) and data.shape == (activation.size, model.n_channels)
