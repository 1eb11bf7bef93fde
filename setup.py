"""pip (standalone) install of semg_grasp_ros. The ROS 2 build uses CMakeLists.txt.

Non-editable installs copy the resources (msg, config, urdf, models, launch) into
``semg_grasp_ros/share/`` so the package finds them without the source tree.
"""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
RESOURCES = ("msg", "config", "urdf", "models", "launch")


def _requirements(name):
    lines = (HERE / name).read_text().splitlines()
    return [l.strip() for l in lines if l.strip() and not l.startswith(("#", "-r"))]


class BuildWithResources(build_py):
    def run(self):
        super().run()
        for kind in RESOURCES:
            src = HERE / kind
            if src.is_dir():
                dst = Path(self.build_lib) / "semg_grasp_ros" / "share" / kind
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst)


dev = _requirements("requirements-dev.txt")
setup(
    name="semg_grasp_ros",
    version="0.1.0",
    description="Forearm sEMG to dexterous ShadowHand grasps: ROS 2 nodes and a standalone pipeline",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["semg_grasp_ros", "semg_grasp_ros.*"]),
    install_requires=_requirements("requirements.txt"),
    extras_require={
        "devices": [r for r in dev if r.startswith(("pylsl", "brainflow", "setuptools"))],
        "view": [r for r in dev if r.startswith("rerun-sdk")],
        "cluster": [r for r in dev if r.startswith("ray")],
        "dev": [r for r in dev if r.startswith("pytest")],
    },
    cmdclass={"build_py": BuildWithResources},
    entry_points={"console_scripts": ["semg-grasp = semg_grasp_ros.cli:main"]},
)
