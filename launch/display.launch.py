"""The ShadowHand model alone: robot_state_publisher with the URDF and RViz.

    ros2 launch semg_grasp_ros display.launch.py
    ros2 launch semg_grasp_ros display.launch.py \
        urdf:=$(ros2 pkg prefix semg_grasp_ros)/share/semg_grasp_ros/urdf/shadow_hand.urdf

Joint states come from whoever publishes ``joint_states`` (e.g. the hand controller or
``joint_state_publisher_gui``); without them robot_state_publisher shows the fixed links only.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import Command, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    share = get_package_share_directory("semg_grasp_ros")
    arg = LaunchConfiguration
    return LaunchDescription([
        DeclareLaunchArgument("urdf", default_value=os.path.join(share, "urdf", "shadow_hand_free.urdf"),
                              description="hand URDF: shadow_hand_free.urdf (palm root, 22 joints) or "
                                          "shadow_hand.urdf (forearm root, 24 joints)"),
        DeclareLaunchArgument("use_rviz", default_value="true", description="start RViz"),
        Node(package="robot_state_publisher", executable="robot_state_publisher", output="screen",
             parameters=[{"robot_description": ParameterValue(Command(["cat ", arg("urdf")]), value_type=str)}]),
        Node(package="rviz2", executable="rviz2", output="log", condition=IfCondition(arg("use_rviz")),
             arguments=["-d", os.path.join(share, "config", "pipeline.rviz")]),
    ])
