"""SMPL-X body layer: joint constants, rotation conversions, forward kinematics, model loading."""

from signavatar.body.body_model import GENDERS, load_body_model, resolve_rest_joints, rest_joints_from_model
from signavatar.body.joints import (
    BODY,
    JAW,
    JOINT_NAMES,
    LEFT_EYE,
    LEFT_HAND,
    NUM_JOINTS,
    NUM_UPPER_BODY,
    PARENTS,
    RIGHT_EYE,
    RIGHT_HAND,
    UPPER_BODY_JOINTS,
    joint_index,
)
from signavatar.body.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_rot6d,
    matrix_to_axis_angle,
    matrix_to_rot6d,
    rot6d_to_axis_angle,
    rot6d_to_matrix,
)
from signavatar.body.skeleton import DEFAULT_REST_JOINTS, forward_kinematics, forward_kinematics_axis_angle

__all__ = [
    "BODY",
    "DEFAULT_REST_JOINTS",
    "GENDERS",
    "JAW",
    "JOINT_NAMES",
    "LEFT_EYE",
    "LEFT_HAND",
    "NUM_JOINTS",
    "NUM_UPPER_BODY",
    "PARENTS",
    "RIGHT_EYE",
    "RIGHT_HAND",
    "UPPER_BODY_JOINTS",
    "axis_angle_to_matrix",
    "axis_angle_to_rot6d",
    "forward_kinematics",
    "forward_kinematics_axis_angle",
    "joint_index",
    "load_body_model",
    "matrix_to_axis_angle",
    "matrix_to_rot6d",
    "resolve_rest_joints",
    "rest_joints_from_model",
    "rot6d_to_axis_angle",
    "rot6d_to_matrix",
]
