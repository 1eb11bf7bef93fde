"""requirements-ros.txt (colcon installs) stays the pip install's requirements.txt within a ROS
distribution's bounds: the same packages, the same pins on Python >= 3.11, numpy 1.x and a
setuptools that both colcon-core (< 80) and torch (>= 77.0.3) accept."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
LINE = re.compile(r"^([A-Za-z0-9_.\-]+)==([^;\s]+)\s*(?:;\s*(.+))?$")


def _pins(name: str) -> dict[str, dict[str, str]]:
    """package (lower case) -> {environment marker ('' = any): version}."""
    pins: dict[str, dict[str, str]] = {}
    for raw in (REPO / name).read_text().splitlines():
        line = raw.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        m = LINE.match(line)
        assert m, f"{name}: {raw!r} is not an exact pin"
        pins.setdefault(m.group(1).lower(), {})[(m.group(3) or "").replace("'", '"')] = m.group(2)
    return pins


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v)[:3])


def test_ros_requirements_match_the_pip_install():
    pip, ros = _pins("requirements.txt"), _pins("requirements-ros.txt")
    assert set(ros) - {"setuptools"} == set(pip)
    for package, versions in pip.items():
        if package == "numpy":
            continue
        on_311 = ros[package].get("") or ros[package].get('python_version >= "3.11"')
        assert on_311 == versions[""], package


def test_ros_requirements_bounds():
    ros = _pins("requirements-ros.txt")
    assert _version(ros["numpy"][""]) < (2,)
    assert (77, 0, 3) <= _version(ros["setuptools"][""]) < (80,)
    assert all(len(v) in (1, 2) for v in ros.values())
