"""Replay a recorded sEMG session into the pipeline.

    ros2 launch semg_grasp_ros replay.launch.py bag:=session1

Plays the bag's ``emg/chunks`` with ``ros2 bag play`` (rate and loop as given), or with the
package's acquisition node (``player:=node``, where rosbag2 is not installed), into the
pipeline of ``pipeline.launch.py``, whose own acquisition node is then not started; playback
starts ``start_delay`` seconds after launch. Bags written by ``semg-grasp record`` and by
``ros2 bag record`` play alike.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, ExecuteProcess, IncludeLaunchDescription,
                            RegisterEventHandler, TimerAction)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.conditions import IfCondition, LaunchConfigurationEquals
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition


def generate_launch_description():
    share = get_package_share_directory("semg_grasp_ros")
    arg = LaunchConfiguration
    play = ["ros2", "bag", "play", arg("bag"), "--rate", arg("rate"), "--topics", "/emg/chunks"]
    player = LifecycleNode(package="semg_grasp_ros", executable="emg_acquisition_node", name="emg_acquisition",
                           namespace="", output="screen",
                           parameters=[os.path.join(share, "config", "emg_acquisition.yaml"),
                                       {"source": "bag", "file": arg("bag"), "loop": False}],
                           condition=LaunchConfigurationEquals("player", "node"))

    def transition(transition_id):
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(player), transition_id=transition_id))

    return LaunchDescription([
        DeclareLaunchArgument("bag", description="bag directory holding /emg/chunks (MCAP or sqlite3)"),
        DeclareLaunchArgument("player", default_value="ros2bag", choices=["ros2bag", "node"],
                              description="ros2bag: `ros2 bag play`; node: the package's acquisition node with "
                                          "source bag (no rosbag2 needed; rate 1, no loop)"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback speed factor"),
        DeclareLaunchArgument("loop", default_value="false", description="play the bag again at its end"),
        DeclareLaunchArgument("start_delay", default_value="15.0",
                              description="seconds before the bag starts, so that the nodes are up (the classifier "
                                          "calibrates its rest level on the first seconds it receives)"),
        DeclareLaunchArgument("use_rviz", default_value="true", description="start RViz"),
        DeclareLaunchArgument("use_robot_state_publisher", default_value="true",
                              description="publish the hand's link transforms"),
        DeclareLaunchArgument("use_sim_camera", default_value="true",
                              description="run the simulated depth camera (false: intents only, or a real camera)"),
        DeclareLaunchArgument("object", default_value="",
                              description="object the simulated camera sees ('' = config/depth_camera_sim.yaml's)"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "pipeline.launch.py")),
            launch_arguments={"use_emg_acquisition": "false", "use_rviz": arg("use_rviz"),
                              "use_robot_state_publisher": arg("use_robot_state_publisher"),
                              "use_sim_camera": arg("use_sim_camera"), "object": arg("object")}.items(),
        ),
        TimerAction(period=arg("start_delay"), actions=[
            ExecuteProcess(cmd=play, output="screen", condition=IfCondition(PythonExpression(
                ["'", arg("player"), "' == 'ros2bag' and '", arg("loop"), "' != 'true'"]))),
            ExecuteProcess(cmd=play + ["--loop"], output="screen", condition=IfCondition(PythonExpression(
                ["'", arg("player"), "' == 'ros2bag' and '", arg("loop"), "' == 'true'"]))),
            player,
            RegisterEventHandler(OnStateTransition(target_lifecycle_node=player, goal_state="inactive",
                                                   entities=[transition(Transition.TRANSITION_ACTIVATE)]),
                                 condition=LaunchConfigurationEquals("player", "node")),
            transition(Transition.TRANSITION_CONFIGURE),
        ]),
    ])
