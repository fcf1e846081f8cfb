"""How faithfully the avatar follows an SMPL-X clip: the bones of its posed skeleton against the
same bones of the SMPL-X forward-kinematics skeleton (on the rest skeleton the avatar was fitted to).

Bones compared, each side: the arm bones (upper arm, forearm and hand: wrist -> middle finger base)
and the 15 finger bones (three per finger; the last one ends at the finger's tip: on the avatar the
tip of its mesh, on SMPL-X the fitter's tip marker, ``TIP_RATIO`` of the middle bone beyond the
distal joint); and, apart, the collar bone (shoulder girdle), which the retargeting aims at SMPL-X's
shoulder rather than along SMPL-X's collar. A bone's direction error is the angle between the two
unit vectors.
Wrist positions are compared in the body frame both share (the avatar is scaled to SMPL-X's arm
length and its shoulders placed on SMPL-X's, ``signavatar.avatar.rig``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from signavatar.avatar.retarget import AvatarMotion, retarget, smplx_kinematics
from signavatar.avatar.rig import SEGMENTS, SIDES, Avatar, Segment, load_avatar
from signavatar.body.joints import joint_index
from signavatar.extraction.estimators.markers import TIP_RATIO
from signavatar.motion.clip import MotionClip

ARM_SEGMENTS: tuple[Segment, ...] = tuple(s for s in SEGMENTS if s.avatar[0].split(".")[0] in
                                         ("upperarm01", "lowerarm01", "wrist"))
COLLAR_SEGMENTS: tuple[Segment, ...] = tuple(s for s in SEGMENTS if s.avatar[0].startswith("clavicle"))
FINGER_SEGMENTS: tuple[Segment, ...] = tuple(s for s in SEGMENTS if s.avatar[0].startswith("finger"))


def bone_vectors(segments: Sequence[Segment], motion: AvatarMotion, positions: np.ndarray, rotations: np.ndarray,
                 avatar: Avatar) -> tuple[np.ndarray, np.ndarray]:
    """Avatar and SMPL-X vectors ``[T, N, 3]`` of ``segments``, from the avatar's ``motion`` and the
    SMPL-X joint ``positions [T, 55, 3]`` and global ``rotations [T, 55, 3, 3]``."""
    body = avatar.body
    mine, theirs = [], []
    for segment in segments:
        start = body.bone(segment.avatar[0])
        if segment.avatar[1] == "tip":
            end = motion.heads[:, start] + motion.world[:, start] @ (avatar.tips[start] - body.heads[start])
        else:
            end = motion.heads[:, body.bone(segment.avatar[1])]
        mine.append(end - motion.heads[:, start])
        joint = joint_index(segment.smplx[0])
        if segment.smplx[1] == "tip":
            middle = avatar.rest_joints[joint] - avatar.rest_joints[joint_index(segment.smplx[0][:-1] + "2")]
            theirs.append(rotations[:, joint] @ (TIP_RATIO * middle))
        else:
            theirs.append(positions[:, joint_index(segment.smplx[1])] - positions[:, joint])
    return np.stack(mine, 1), np.stack(theirs, 1)


def angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (degrees) between the vectors ``a [..., 3]`` and ``b [..., 3]``."""
    cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def fidelity(clips: Sequence[MotionClip], avatar: Avatar | None = None) -> dict[str, float | int]:
    """Direction errors (degrees; mean and 95th percentile over every frame and bone) of the arm,
    finger and collar bones, and wrist position errors (metres; mean and max), over ``clips``."""
    avatar = load_avatar() if avatar is None else avatar
    arm, finger, collar, wrist = [], [], [], []
    wrists = [(avatar.body.bone(f"wrist.{s}"), joint_index(f"{side}_wrist")) for s, side in SIDES.items()]
    for clip in clips:
        motion = retarget(clip, avatar)
        positions, rotations = smplx_kinematics(clip, avatar.rest_joints)
        arm.append(angles_deg(*bone_vectors(ARM_SEGMENTS, motion, positions, rotations, avatar)).ravel())
        finger.append(angles_deg(*bone_vectors(FINGER_SEGMENTS, motion, positions, rotations, avatar)).ravel())
        collar.append(angles_deg(*bone_vectors(COLLAR_SEGMENTS, motion, positions, rotations, avatar)).ravel())
        wrist += [np.linalg.norm(motion.heads[:, bone] - positions[:, joint], axis=-1) for bone, joint in wrists]
    arm_deg, finger_deg, collar_deg, wrist_m = (np.concatenate(x) for x in (arm, finger, collar, wrist))
    return {
        "clips": len(clips),
        "frames": int(sum(c.num_frames for c in clips)),
        "arm_bones": len(ARM_SEGMENTS),
        "finger_bones": len(FINGER_SEGMENTS),
        "arm_mean_deg": float(arm_deg.mean()),
        "arm_p95_deg": float(np.percentile(arm_deg, 95)),
        "finger_mean_deg": float(finger_deg.mean()),
        "finger_p95_deg": float(np.percentile(finger_deg, 95)),
        "collar_mean_deg": float(collar_deg.mean()),
        "collar_p95_deg": float(np.percentile(collar_deg, 95)),
        "wrist_mean_m": float(wrist_m.mean()),
        "wrist_max_m": float(wrist_m.max()),
    }
