"""The whole pipeline: sEMG acquisition -> grasp classifier; (simulated) depth camera ->
object distance field; diffusion grasp generator; hand controller; robot_state_publisher
with the ShadowHand URDF; RViz.

    ros2 launch semg_grasp_ros pipeline.launch.py
    ros2 launch semg_grasp_ros pipeline.launch.py emg_source:=sapsanis emg_file:=/data/female_1.mat
    ros2 launch semg_grasp_ros pipeline.launch.py use_sim_camera:=false   # remap object/points to a camera

Every node reads config/<node>.yaml (what differs from the code's defaults); an argument
below left empty keeps that value, a given one overrides the parameter it names. The
acquisition is a lifecycle node: configured, then activated once it is inactive. The
simulated user repeats its session (about 150 s) until the launch is stopped.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, GroupAction, OpaqueFunction, RegisterEventHandler
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.substitutions import Command, LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node, PushRosNamespace
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from lifecycle_msgs.msg import Transition

PKG = "semg_grasp_ros"


def generate_launch_description():
    share = get_package_share_directory(PKG)
    config = os.path.join(share, "config")
    arg = LaunchConfiguration

    args = [
        DeclareLaunchArgument("namespace", default_value="", description="namespace of every node and topic"),
        DeclareLaunchArgument("use_emg_acquisition", default_value="true",
                              description="run the acquisition node (false when emg/chunks come from elsewhere, "
                                          "e.g. ros2 bag play)"),
        DeclareLaunchArgument("emg_source", default_value="",
                              description="sEMG source: simulated, sapsanis, ninapro, csv, bag, lsl or brainflow "
                                          "('' = config/emg_acquisition.yaml's)"),
        DeclareLaunchArgument("emg_file", default_value="",
                              description="dataset file/folder or bag directory for file and bag sources"),
        DeclareLaunchArgument("simulator_model", default_value="",
                              description="simulated user: a Sapsanis subject's fitted model or a model .json "
                                          "('' = config/emg_acquisition.yaml's)"),
        DeclareLaunchArgument("intent_model", default_value="",
                              description="classifier: a shipped model name or a checkpoint .json "
                                          "('' = config/grasp_classifier.yaml's)"),
        DeclareLaunchArgument("grasp_model", default_value="",
                              description="grasp generator: a shipped model name or a model folder "
                                          "('' = config/grasp_diffusion.yaml's)"),
        DeclareLaunchArgument("use_sim_camera", default_value="true",
                              description="run the simulated depth camera (else remap object/points to a camera)"),
        DeclareLaunchArgument("object", default_value="",
                              description="object the simulated camera sees: a primitive, a mesh file or a "
                                          "DexGraspNet code ('' = config/depth_camera_sim.yaml's)"),
        DeclareLaunchArgument("use_rviz", default_value="true", description="start RViz with config/pipeline.rviz"),
        DeclareLaunchArgument("use_robot_state_publisher", default_value="true",
                              description="publish the hand's link transforms from joint_states and the URDF"),
        DeclareLaunchArgument("urdf", default_value=os.path.join(share, "urdf", "shadow_hand_free.urdf"),
                              description="hand URDF for robot_state_publisher"),
    ]

    def nodes(context):
        def node(executable, name, overrides=None, condition=None, cls=Node, **kwargs):
            """A package node with config/<name>.yaml and the overrides whose argument is set."""
            values = {param: arg(a).perform(context) for param, a in (overrides or {}).items()}
            values = {param: v for param, v in values.items() if v}
            params = [os.path.join(config, f"{name}.yaml")] + ([values] if values else [])
            return cls(package=PKG, executable=executable, name=name, parameters=params, output="screen",
                       condition=condition, **kwargs)

        def transition(target, transition_id):
            return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(target),
                                               transition_id=transition_id))

        acquisition = node("emg_acquisition_node", "emg_acquisition",
                           {"source": "emg_source", "file": "emg_file", "simulator_model": "simulator_model"},
                           condition=IfCondition(arg("use_emg_acquisition")), cls=LifecycleNode, namespace="")

        return [GroupAction([
            PushRosNamespace(arg("namespace")),
            acquisition,
            RegisterEventHandler(OnStateTransition(target_lifecycle_node=acquisition, goal_state="inactive",
                                                   entities=[transition(acquisition, Transition.TRANSITION_ACTIVATE)]),
                                 condition=IfCondition(arg("use_emg_acquisition"))),
            transition(acquisition, Transition.TRANSITION_CONFIGURE),
            node("grasp_classifier_node", "grasp_classifier", {"model": "intent_model"}),
            node("depth_camera_sim_node", "depth_camera_sim", {"object": "object"},
                 condition=IfCondition(arg("use_sim_camera"))),
            node("object_sdf_node", "object_sdf"),
            node("grasp_diffusion_node", "grasp_diffusion", {"model": "grasp_model"}),
            node("hand_controller_node", "hand_controller"),
            Node(package="robot_state_publisher", executable="robot_state_publisher", name="robot_state_publisher",
                 parameters=[{"robot_description": ParameterValue(Command(["cat ", arg("urdf")]), value_type=str)}],
                 output="screen",
                 condition=IfCondition(arg("use_robot_state_publisher"))),
            Node(package="rviz2", executable="rviz2", name="rviz2", output="log",
                 arguments=["-d", os.path.join(config, "pipeline.rviz")], condition=IfCondition(arg("use_rviz"))),
        ])]

    return LaunchDescription(args + [OpaqueFunction(function=nodes)])
