"""``.glb``: the avatar with a clip as its animation, glTF 2.0 binary (Blender, Unity, Unreal, three.js,
``<model-viewer>``).

What is in the file:

* one node per avatar bone (104, named as in the rig, e.g. ``wrist.L``, ``finger2-1.R``; the
  signer's left is ``.L``), each at its rest offset from its parent with no rest rotation: joint
  frames are the world axes at rest, as in SMPL-X (y up, z forward, metres);
* the skinned mesh (13,718 vertices: positions, normals, the avatar's colours as ``COLOR_0``, four
  bone influences per vertex) bound at the avatar's rest pose, with one material;
* without a clip, no animation, and ``asset.extras.retarget``: what the browser viewer needs to
  retarget clips onto the avatar itself (``retarget.retarget_parameters``); with one, an animation
  named after the clip:
  every bone's rotation (and the root's translation) at every frame of the clip, interpolated
  linearly (``input`` in seconds at the clip's frame rate);
* ``asset.copyright`` and ``asset.extras.licences``: the licences of the avatar's assets;
  ``asset.extras.clip``: the clip's gloss, id, fps and sentence segments.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import torch

from signavatar.avatar.anny_body import ASSET_LICENCES, COPYRIGHT
from signavatar.avatar.appearance import vertex_colors
from signavatar.avatar.retarget import AvatarMotion, retarget_parameters
from signavatar.avatar.rig import Avatar
from signavatar.avatar.skinning import vertex_normals
from signavatar.body.rotations import matrix_to_quaternion
from signavatar.motion.clip import MotionClip

GLB_MAGIC, GLB_VERSION = b"glTF", 2
_JSON_CHUNK, _BIN_CHUNK = 0x4E4F534A, 0x004E4942
_FLOAT, _UBYTE, _USHORT = 5126, 5121, 5123
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_TYPES = {1: "SCALAR", 3: "VEC3", 4: "VEC4", 16: "MAT4"}


class _Builder:
    """Accumulates the binary buffer, its views and accessors."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def add(self, array: np.ndarray, component: int, target: int | None = None, normalized: bool = False,
            bounds: bool = False) -> int:
        """A view + accessor over ``array`` ``[N, C]`` (or ``[N]``); returns the accessor index."""
        data = np.ascontiguousarray(array)
        count = data.shape[0]
        width = int(np.prod(data.shape[1:])) if data.ndim > 1 else 1
        self.blob.extend(b"\0" * (-len(self.blob) % 4))
        view: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": data.nbytes}
        if target is not None:
            view["target"] = target
        self.blob.extend(data.tobytes())
        self.views.append(view)
        accessor: dict[str, Any] = {"bufferView": len(self.views) - 1, "componentType": component, "count": count,
                                    "type": _TYPES[width]}
        if normalized:
            accessor["normalized"] = True
        if bounds:
            flat = data.reshape(count, width).astype(np.float64)
            accessor["min"] = flat.min(0).tolist()
            accessor["max"] = flat.max(0).tolist()
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def _srgb_to_linear(colors: np.ndarray) -> np.ndarray:
    """glTF vertex colours are linear: decode sRGB ``[V, 3]`` uint8 to linear ``[0, 1]``."""
    c = colors.astype(np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _quaternions(rotations: np.ndarray) -> np.ndarray:
    """``[T, B, 3, 3]`` -> ``[T, B, 4]`` (x, y, z, w), each bone's track sign-continuous over time
    (linear interpolation between neighbours then takes the short way)."""
    wxyz = matrix_to_quaternion(torch.from_numpy(rotations)).numpy()
    xyzw = np.concatenate([wxyz[..., 1:], wxyz[..., :1]], axis=-1)
    for t in range(1, len(xyzw)):
        flip = (xyzw[t] * xyzw[t - 1]).sum(-1) < 0
        xyzw[t, flip] *= -1.0
    return xyzw


def _clip_extras(clip: MotionClip) -> dict[str, Any]:
    extras: dict[str, Any] = {"gloss": clip.gloss, "clip_id": clip.clip_id, "fps": clip.fps,
                              "frames": clip.num_frames}
    if clip.segments is not None:
        extras["segments"] = [s.to_dict() for s in clip.segments]
    return extras


def glb_bytes(avatar: Avatar, clip: MotionClip | None = None, motion: AvatarMotion | None = None) -> bytes:
    """The avatar as a ``.glb``, animated by ``motion`` (the retargeted ``clip``) when given."""
    body = avatar.body
    num_bones = len(body.bone_names)
    out = _Builder()
    positions = body.vertices.astype(np.float32)
    attributes = {
        "POSITION": out.add(positions, _FLOAT, _ARRAY_BUFFER, bounds=True),
        "NORMAL": out.add(vertex_normals(body.vertices, body.faces).astype(np.float32), _FLOAT, _ARRAY_BUFFER),
        "COLOR_0": out.add(np.concatenate([np.round(_srgb_to_linear(vertex_colors(body)) * 255),
                                           np.full((len(positions), 1), 255)], axis=1).astype(np.uint8),
                           _UBYTE, _ARRAY_BUFFER, normalized=True),
        "JOINTS_0": out.add(body.skin_bones.astype(np.uint8 if num_bones < 256 else np.uint16),
                            _UBYTE if num_bones < 256 else _USHORT, _ARRAY_BUFFER),
        "WEIGHTS_0": out.add(body.skin_weights.astype(np.float32), _FLOAT, _ARRAY_BUFFER),
    }
    indices = out.add(body.faces.reshape(-1).astype(np.uint16 if len(positions) < 65536 else np.uint32),
                      _USHORT if len(positions) < 65536 else 5125, _ELEMENT_ARRAY_BUFFER)
    inverse_bind = np.tile(np.eye(4, dtype=np.float32), (num_bones, 1, 1))
    inverse_bind[:, :3, 3] = -body.heads
    ibm = out.add(np.ascontiguousarray(inverse_bind.transpose(0, 2, 1)).reshape(num_bones, 16), _FLOAT)  # column-major

    children: list[list[int]] = [[] for _ in range(num_bones)]
    for bone, parent in enumerate(body.parents):
        if parent >= 0:
            children[parent].append(bone)
    nodes: list[dict[str, Any]] = []
    for bone, name in enumerate(body.bone_names):
        parent = body.parents[bone]
        offset = body.heads[bone] - (body.heads[parent] if parent >= 0 else 0.0)
        node: dict[str, Any] = {"name": name, "translation": [float(x) for x in offset]}
        if children[bone]:
            node["children"] = children[bone]
        nodes.append(node)
    nodes.append({"name": "avatar", "mesh": 0, "skin": 0})

    document: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "signavatar", "copyright": COPYRIGHT,
                  "extras": {"licences": ASSET_LICENCES}},
        "scene": 0,
        "scenes": [{"name": "signavatar", "nodes": [0, num_bones]}],
        "nodes": nodes,
        "meshes": [{"name": "avatar", "primitives": [{"attributes": attributes, "indices": indices, "material": 0}]}],
        "materials": [{"name": "avatar", "pbrMetallicRoughness": {"baseColorFactor": [1.0, 1.0, 1.0, 1.0],
                                                                    "metallicFactor": 0.0, "roughnessFactor": 0.8}}],
        "skins": [{"name": "avatar", "joints": list(range(num_bones)), "inverseBindMatrices": ibm, "skeleton": 0}],
    }
    if motion is None:
        document["asset"]["extras"]["retarget"] = retarget_parameters(avatar)
    else:
        if clip is None:
            raise ValueError("an animated .glb needs the clip its motion comes from")
        document["asset"]["extras"]["clip"] = _clip_extras(clip)
        times = out.add((np.arange(motion.num_frames) / motion.fps).astype(np.float32), _FLOAT, bounds=True)
        rotations = _quaternions(motion.local).astype(np.float32)
        samplers, channels = [], []
        for bone in range(num_bones):
            samplers.append({"input": times, "output": out.add(rotations[:, bone], _FLOAT), "interpolation": "LINEAR"})
            channels.append({"sampler": len(samplers) - 1, "target": {"node": bone, "path": "rotation"}})
        samplers.append({"input": times, "output": out.add(motion.root.astype(np.float32), _FLOAT),
                         "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": 0, "path": "translation"}})
        document["animations"] = [{"name": clip.gloss or clip.clip_id, "samplers": samplers, "channels": channels}]
    document["bufferViews"] = out.views
    document["accessors"] = out.accessors
    document["buffers"] = [{"byteLength": len(out.blob) + (-len(out.blob) % 4)}]
    return _pack(document, bytes(out.blob))


def _pack(document: dict[str, Any], blob: bytes) -> bytes:
    """GLB container: 12-byte header, a JSON chunk padded with spaces, a BIN chunk padded with zeros."""
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    blob += b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return b"".join([struct.pack("<4sII", GLB_MAGIC, GLB_VERSION, total), struct.pack("<II", len(text), _JSON_CHUNK),
                     text, struct.pack("<II", len(blob), _BIN_CHUNK), blob])
