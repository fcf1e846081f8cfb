"""The avatar's rig related to the SMPL-X skeleton: which SMPL-X joint drives each avatar bone, how
the two rest poses are aligned, and the avatar fitted to the SMPL-X rest skeleton.

Both skeletons are kinematic trees whose joint frames are the world axes at rest (SMPL-X's by
definition; the avatar's as ``signavatar.body.skeleton.forward_kinematics`` treats any tree), so a
pose is a world rotation per joint relative to its rest pose. The rests differ: SMPL-X stands in a
T-pose with flat hands, palms down; the avatar (MakeHuman) in an A-pose with arms 45 degrees down,
elbows a little bent and fingers slightly curled.

Every avatar bone ``c`` follows one SMPL-X joint ``j(c)`` (``DRIVERS``): its world rotation is
``A_c = G_j(c) C_c``, ``G`` being the SMPL-X joint's global rotation and ``C_c`` the bone's *rest
alignment*, the rotation taking the avatar's rest bone onto SMPL-X's rest bone. So at the SMPL-X
rest pose the avatar stands in SMPL-X's T-pose, and every bone points where its SMPL-X bone points.

``C_c`` maps an orthonormal frame of the avatar's rest segment onto the same frame of SMPL-X's
(``ALIGNED``): the first axis along the segment (e.g. shoulder -> elbow), the second from a
reference direction: the elbow's hinge axis for the upper arm and forearm (so the avatar's elbow
folds the way its mesh is made to), the palm normal for the hand and the fingers (so palms and
finger flexion match), the body's forward direction for the collar bones and legs. Bones without
a segment of their own (twist bones, metacarpals, toes, a scapula) move rigidly with the bone they
extend (same ``C``). The torso, neck, head and eyes keep their own rest shape (``C = I``): both
skeletons stand upright, and the avatar's spine keeps its natural curve.

The avatar is scaled so that its arms are as long as the SMPL-X skeleton's (shoulder -> elbow ->
wrist) and placed so that its shoulders (in the aligned rest pose) sit at SMPL-X's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from signavatar.avatar.anny_body import RestBody, rest_body
from signavatar.body.joints import joint_index
from signavatar.body.skeleton import DEFAULT_REST_JOINTS, forward_kinematics
from signavatar.extraction.estimators.markers import TIP_RATIO

SIDES = {"L": "left", "R": "right"}
# anny's fingers: 1 thumb, 2 index, 3 middle, 4 ring, 5 pinky; phalanges -1 -2 -3 (proximal first)
FINGERS = {1: "thumb", 2: "index", 3: "middle", 4: "ring", 5: "pinky"}
_FORWARD = np.array([0.0, 0.0, 1.0])


def _toes(s: str) -> tuple[str, ...]:
    """The toe bones of side ``s`` (the big toe has two)."""
    return tuple(f"toe{t}-{k}.{s}" for t in range(1, 6) for k in range(1, 3 if t == 1 else 4))


def _drivers() -> dict[str, str]:
    """avatar bone -> SMPL-X joint name whose global rotation it follows."""
    drivers = {"root": "pelvis", "spine05": "pelvis", "spine04": "spine1", "spine03": "spine1", "spine02": "spine2",
               "spine01": "spine3", "neck01": "neck", "neck02": "neck", "neck03": "neck", "head": "head",
               "eye.L": "left_eye_smplhf", "eye.R": "right_eye_smplhf"}
    for s, side in SIDES.items():
        drivers |= {f"pelvis.{s}": "pelvis", f"upperleg01.{s}": f"{side}_hip", f"upperleg02.{s}": f"{side}_hip",
                    f"lowerleg01.{s}": f"{side}_knee", f"lowerleg02.{s}": f"{side}_knee",
                    f"foot.{s}": f"{side}_ankle", f"clavicle.{s}": f"{side}_collar",
                    f"shoulder01.{s}": f"{side}_collar", f"upperarm01.{s}": f"{side}_shoulder",
                    f"upperarm02.{s}": f"{side}_shoulder", f"lowerarm01.{s}": f"{side}_elbow",
                    f"lowerarm02.{s}": f"{side}_elbow", f"wrist.{s}": f"{side}_wrist"}
        drivers |= {toe: f"{side}_foot" for toe in _toes(s)}
        drivers |= {f"metacarpal{m}.{s}": f"{side}_wrist" for m in range(1, 5)}
        drivers |= {f"finger{f}-{k}.{s}": f"{side}_{name}{k}" for f, name in FINGERS.items() for k in (1, 2, 3)}
    return drivers


DRIVERS: dict[str, str] = _drivers()


@dataclass(frozen=True)
class Segment:
    """An aligned bone group: avatar segment ``avatar`` (bone head -> bone head, or ``"tip"``: the
    finger's tip on the mesh) and SMPL-X segment ``smplx`` (joint -> joint, or ``"tip"``), the
    reference of the second frame axis (``forward``, ``elbow`` or ``palm``), and the avatar bones
    that take this alignment."""

    avatar: tuple[str, str]
    smplx: tuple[str, str]
    reference: str
    bones: tuple[str, ...]


def _segments() -> tuple[Segment, ...]:
    segments = []
    for s, side in SIDES.items():
        segments += [
            Segment((f"clavicle.{s}", f"upperarm01.{s}"), (f"{side}_collar", f"{side}_shoulder"), "forward",
                    (f"clavicle.{s}", f"shoulder01.{s}")),
            Segment((f"upperarm01.{s}", f"lowerarm01.{s}"), (f"{side}_shoulder", f"{side}_elbow"), "elbow",
                    (f"upperarm01.{s}", f"upperarm02.{s}")),
            Segment((f"lowerarm01.{s}", f"wrist.{s}"), (f"{side}_elbow", f"{side}_wrist"), "elbow",
                    (f"lowerarm01.{s}", f"lowerarm02.{s}")),
            Segment((f"wrist.{s}", f"finger3-1.{s}"), (f"{side}_wrist", f"{side}_middle1"), "palm",
                    (f"wrist.{s}", *(f"metacarpal{m}.{s}" for m in range(1, 5)))),
            Segment((f"upperleg01.{s}", f"lowerleg01.{s}"), (f"{side}_hip", f"{side}_knee"), "forward",
                    (f"upperleg01.{s}", f"upperleg02.{s}")),
            Segment((f"lowerleg01.{s}", f"foot.{s}"), (f"{side}_knee", f"{side}_ankle"), "forward",
                    (f"lowerleg01.{s}", f"lowerleg02.{s}")),
            Segment((f"foot.{s}", f"toe3-1.{s}"), (f"{side}_ankle", f"{side}_foot"), "forward",
                    (f"foot.{s}", *_toes(s))),
        ]
        for f, name in FINGERS.items():
            for k in (1, 2, 3):
                end = (f"finger{f}-{k + 1}.{s}", f"{side}_{name}{k + 1}") if k < 3 else ("tip", "tip")
                segments.append(Segment((f"finger{f}-{k}.{s}", end[0]), (f"{side}_{name}{k}", end[1]), "palm",
                                        (f"finger{f}-{k}.{s}",)))
    return tuple(segments)


SEGMENTS: tuple[Segment, ...] = _segments()


@dataclass(frozen=True)
class Avatar:
    """The avatar fitted to an SMPL-X rest skeleton: ``body`` scaled and placed in SMPL-X's rest
    frame, ``drivers [B]`` (SMPL-X joint index per bone), ``alignment [B, 3, 3]`` (``C``),
    ``tips [B, 3]`` (a finger's distal bone: its tip at rest; other bones: their head) and the
    SMPL-X ``rest_joints [55, 3]`` it was fitted to."""

    body: RestBody
    drivers: np.ndarray
    alignment: np.ndarray
    tips: np.ndarray
    rest_joints: np.ndarray
    scale: float

    @property
    def num_bones(self) -> int:
        return len(self.body.bone_names)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _frame(direction: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Columns: ``direction``, ``reference`` made orthogonal to it, their cross product."""
    e1 = _unit(direction)
    e2 = _unit(reference - (reference @ e1) * e1)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=1)


def _finger_tips(body: RestBody) -> np.ndarray:
    """Per bone: the tip of a distal finger bone (the skinned vertex farthest from its head among
    those it mostly moves), else the bone's head."""
    tips = body.heads.copy()
    for b, name in enumerate(body.bone_names):
        if name.startswith("finger") and name.split(".")[0].endswith("-3"):
            mine = body.vertices[(body.skin_bones[:, 0] == b) & (body.skin_weights[:, 0] > 0.5)]
            tips[b] = mine[np.argmax(np.linalg.norm(mine - body.heads[b], axis=1))]
    return tips


def _palm_normal(wrist: np.ndarray, index: np.ndarray, pinky: np.ndarray, middle: np.ndarray, left: bool) -> np.ndarray:
    """The normal out of the palm (the side the fingers flex toward)."""
    normal = np.cross(middle - wrist, index - pinky)
    return _unit(normal if left else -normal)


def _references(points: dict[str, np.ndarray], side: str, segment: Segment, avatar: bool) -> np.ndarray:
    """The second-axis reference of ``segment``'s frame in one skeleton (``points``: named rest
    positions, avatar bone names or SMPL-X joint names)."""
    if segment.reference == "forward":
        return _FORWARD
    s = "L" if side == "left" else "R"
    if avatar:
        name = lambda f, k: f"finger{f}-{k}.{s}"  # noqa: E731
        hand = (points[f"wrist.{s}"], points[name(2, 1)], points[name(5, 1)], points[name(3, 1)])
        shoulder, elbow, wrist = points[f"upperarm01.{s}"], points[f"lowerarm01.{s}"], points[f"wrist.{s}"]
    else:
        hand = tuple(points[f"{side}_{j}"] for j in ("wrist", "index1", "pinky1", "middle1"))
        shoulder, elbow, wrist = (points[f"{side}_{j}"] for j in ("shoulder", "elbow", "wrist"))
    if segment.reference == "palm":
        return _palm_normal(*hand, left=side == "left")
    # the elbow's hinge axis: SMPL-X's straight T-pose arm folds forward
    if avatar:
        return _unit(np.cross(elbow - shoulder, wrist - elbow))
    return _unit(np.cross(elbow - shoulder, _FORWARD))


def _segment_vector(points: dict[str, np.ndarray], tips: dict[str, np.ndarray], ends: tuple[str, str]) -> np.ndarray:
    start, end = ends
    return (tips[start] if end == "tip" else points[end]) - points[start]


def fit_avatar(body: RestBody, rest_joints: np.ndarray) -> Avatar:
    """``body`` fitted to the SMPL-X rest skeleton ``rest_joints [55, 3]`` (see module doc)."""
    rest = np.asarray(rest_joints, np.float64)
    num_bones = len(body.bone_names)
    drivers = np.array([joint_index(DRIVERS[name]) for name in body.bone_names])
    alignment = np.tile(np.eye(3), (num_bones, 1, 1))
    smplx = {name: rest[joint_index(name)] for name in DRIVERS.values()}
    smplx |= {f"{side}_{finger}{k}": rest[joint_index(f"{side}_{finger}{k}")]
              for side in SIDES.values() for finger in FINGERS.values() for k in (1, 2, 3)}
    named = dict(zip(body.bone_names, body.heads))
    tip_points = dict(zip(body.bone_names, _finger_tips(body)))
    # SMPL-X's distal finger bone points along the middle one at rest (the fitter's tip markers too)
    smplx_tips = {f"{side}_{finger}3": rest[joint_index(f"{side}_{finger}3")] + TIP_RATIO * (
        rest[joint_index(f"{side}_{finger}3")] - rest[joint_index(f"{side}_{finger}2")])
        for side in SIDES.values() for finger in FINGERS.values()}
    for segment in SEGMENTS:
        side = SIDES[segment.avatar[0].rsplit(".", 1)[1]]
        source = _frame(_segment_vector(named, tip_points, segment.avatar),
                        _references(named, side, segment, avatar=True))
        target = _frame(_segment_vector(smplx, smplx_tips, segment.smplx),
                        _references(smplx, side, segment, avatar=False))
        for bone in segment.bones:
            alignment[body.bone(bone)] = target @ source.T

    # scale: arms as long as SMPL-X's; place: shoulders (aligned rest pose) on SMPL-X's
    def arm_length(points: dict[str, np.ndarray], names: tuple[str, str, str]) -> float:
        a, b, c = (points[n] for n in names)
        return float(np.linalg.norm(b - a) + np.linalg.norm(c - b))

    scale = np.mean([arm_length(smplx, (f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist"))
                     / arm_length(named, (f"upperarm01.{s}", f"lowerarm01.{s}", f"wrist.{s}"))
                     for s, side in SIDES.items()])
    root = body.heads[0]
    heads = root + scale * (body.heads - root)
    aligned = _aligned_rest(body.parents, heads, alignment)
    shoulders = [body.bone(f"upperarm01.{s}") for s in SIDES]
    target_mid = rest[[joint_index(f"{side}_shoulder") for side in SIDES.values()]].mean(0)
    shift = target_mid - aligned[shoulders].mean(0)

    def place(points: np.ndarray) -> np.ndarray:
        return root + scale * (points - root) + shift

    fitted = RestBody(bone_names=body.bone_names, parents=body.parents, heads=place(body.heads),
                      vertices=place(body.vertices), faces=body.faces, skin_bones=body.skin_bones,
                      skin_weights=body.skin_weights)
    return Avatar(body=fitted, drivers=drivers, alignment=alignment, tips=place(_finger_tips(body)),
                  rest_joints=rest.astype(np.float32), scale=float(scale))


def _aligned_rest(parents: tuple[int, ...], heads: np.ndarray, alignment: np.ndarray) -> np.ndarray:
    """Bone heads of the avatar posed by its rest alignment alone (every ``A_c = C_c``)."""
    return forward_kinematics(torch.from_numpy(local_rotations(alignment[None], parents)), heads, parents=parents)[0].numpy()


def local_rotations(world: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    """Parent-relative rotations ``A_parent^T A_c`` ``[..., B, 3, 3]`` of world rotations ``[..., B, 3, 3]``
    (the root keeps its world rotation)."""
    parent_index = np.array([0, *parents[1:]])
    local = np.swapaxes(world[..., parent_index, :, :], -1, -2) @ world
    local[..., 0, :, :] = world[..., 0, :, :]
    return local


@lru_cache(maxsize=4)
def _cached_avatar(rest_key: bytes) -> Avatar:
    return fit_avatar(rest_body(), np.frombuffer(rest_key, np.float32).reshape(-1, 3))


def load_avatar(rest_joints: np.ndarray = DEFAULT_REST_JOINTS) -> Avatar:
    """The avatar fitted to ``rest_joints`` (the built-in SMPL-X rest skeleton by default), built
    once per process and rest skeleton."""
    return _cached_avatar(np.ascontiguousarray(rest_joints, np.float32).tobytes())
