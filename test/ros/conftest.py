"""Fixtures of the ROS tier (used only by tests that have rclpy)."""

import time

import pytest


@pytest.fixture(scope="module")
def ros_context():
    """rclpy initialised for the module's tests."""
    rclpy = pytest.importorskip("rclpy")
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture
def spin():
    """``spin(nodes, predicate, timeout=10.0) -> bool``: spin the nodes on one executor until
    ``predicate()`` holds or ``timeout`` seconds pass; returns ``predicate()``."""
    from rclpy.executors import SingleThreadedExecutor

    def run(nodes, predicate, timeout=10.0):
        executor = SingleThreadedExecutor()
        for n in nodes:
            executor.add_node(n)
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.02)
        for n in nodes:
            executor.remove_node(n)
        return predicate()

    return run
