"""Replay a recorded sEMG session into the pipeline.

    ros2 launch semg_grasp_ros replay.launch.py bag:=session1

Plays the bag's ``emg/chunks`` with ``ros2 bag play`` (rate and loop as given) into the
pipeline of ``pipeline.launch.py``, whose own acquisition node is then not started.
Bags written by ``semg-grasp record`` and by ``ros2 bag record`` play alike.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration


def generate_launch_description():
    share = get_package_share_directory("semg_grasp_ros")
    arg = LaunchConfiguration
    play = ["ros2", "bag", "play", arg("bag"), "--rate", arg("rate"), "--topics", "/emg/chunks"]
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="bag directory holding /emg/chunks (MCAP or sqlite3)"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback speed factor"),
        DeclareLaunchArgument("loop", default_value="false", description="play the bag again at its end"),
        DeclareLaunchArgument("use_rviz", default_value="true", description="start RViz"),
        DeclareLaunchArgument("use_robot_state_publisher", default_value="true",
                              description="publish the hand's link transforms"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "pipeline.launch.py")),
            launch_arguments={"use_emg_acquisition": "false", "use_rviz": arg("use_rviz"),
                              "use_robot_state_publisher": arg("use_robot_state_publisher")}.items(),
        ),
        ExecuteProcess(cmd=play, output="screen", condition=UnlessCondition(arg("loop"))),
        ExecuteProcess(cmd=play + ["--loop"], output="screen", condition=IfCondition(arg("loop"))),
    ])
