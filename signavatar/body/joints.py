"""SMPL-X joint names, kinematic tree and the named joint groups used across the project.

Pure constants (no torch), in SMPL-X order: 22 body joints, jaw, two eyes, 15 left-hand joints,
15 right-hand joints.
"""

from __future__ import annotations

_BODY_NAMES = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
)
_FACE_NAMES = ("jaw", "left_eye_smplhf", "right_eye_smplhf")
_FINGERS = ("index", "middle", "pinky", "ring", "thumb")


def _hand_names(side: str) -> tuple[str, ...]:
    return tuple(f"{side}_{finger}{k}" for finger in _FINGERS for k in (1, 2, 3))


JOINT_NAMES: tuple[str, ...] = _BODY_NAMES + _FACE_NAMES + _hand_names("left") + _hand_names("right")
NUM_JOINTS = 55

BODY = slice(0, 22)
JAW = 22
LEFT_EYE = 23
RIGHT_EYE = 24
LEFT_HAND = slice(25, 40)
RIGHT_HAND = slice(40, 55)

_LEFT_WRIST = 20
_RIGHT_WRIST = 21
_HEAD = 15


def _hand_parents(wrist: int, first: int) -> tuple[int, ...]:
    """Five 3-joint finger chains, each hanging off the wrist."""
    parents: list[int] = []
    for finger in range(5):
        base = first + 3 * finger
        parents += [wrist, base, base + 1]
    return tuple(parents)


# Same as smplx's kintree_table[0] for SMPL-X (root parent -1).
PARENTS: tuple[int, ...] = (
    (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
    + (_HEAD, _HEAD, _HEAD)
    + _hand_parents(_LEFT_WRIST, LEFT_HAND.start)
    + _hand_parents(_RIGHT_WRIST, RIGHT_HAND.start)
)

_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}


def joint_index(name: str) -> int:
    """Index of an SMPL-X joint by name (e.g. ``"left_wrist"`` -> 20)."""
    try:
        return _INDEX[name]
    except KeyError:
        raise ValueError(f"unknown SMPL-X joint name {name!r}") from None


# The joints the motion model trains on: torso above the pelvis, neck/head, arms, jaw and both
# hands. Legs, pelvis and eyes are excluded (not visible / not meaningful in signing video).
UPPER_BODY_JOINTS: tuple[int, ...] = tuple(
    sorted(
        [
            joint_index(n)
            for n in (
                "spine1",
                "spine2",
                "spine3",
                "neck",
                "left_collar",
                "right_collar",
                "head",
                "left_shoulder",
                "right_shoulder",
                "left_elbow",
                "right_elbow",
                "left_wrist",
                "right_wrist",
                "jaw",
            )
        ]
        + list(range(LEFT_HAND.start, RIGHT_HAND.stop))
    )
)
NUM_UPPER_BODY = 44
