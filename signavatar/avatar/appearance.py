"""How the avatar looks: per-vertex colours, the same in previews and in a ``.glb``.

The avatar wears what sign-language interpreters wear for contrast with their hands: a plain dark
top with long sleeves and dark trousers; hands, face and neck are skin. The sleeves carry the
previews' side colours, darkened (the signer's left blue, right vermillion, as the skeleton
previews draw the arms), so left and right read at a glance. Each vertex mixes the colours of the
garments (and skin) whose bones move it, in proportion to the eighth power of their share of its
skin weight: cuffs and collars stay narrow (plain proportions would blur a sleeve into the hand
over the whole wrist) without the jagged edge of taking the largest share alone.
"""

from __future__ import annotations

import numpy as np

from signavatar.avatar.anny_body import RestBody

Color = tuple[int, int, int]

SKIN: Color = (214, 172, 146)
TOP: Color = (58, 62, 72)
LEFT_SLEEVE: Color = (30, 78, 122)  # the previews' left blue (0, 114, 178), darkened
RIGHT_SLEEVE: Color = (132, 62, 22)  # the previews' right vermillion (213, 94, 0), darkened
TROUSERS: Color = (52, 54, 60)
_SHARPNESS = 8
HANDS = ("wrist", "metacarpal", "finger")
"""Bone-name prefixes of the hand (the wrist bone carries the hand, the forearm ends at it)."""


def part(bone_name: str) -> str:
    """The garment (or skin) over a bone: ``skin``, ``top``, ``left_sleeve``, ``right_sleeve`` or
    ``trousers``."""
    stem, _, side = bone_name.partition(".")
    if stem.startswith(HANDS) or stem.startswith(("head", "neck", "eye")):
        return "skin"
    if stem.startswith(("upperarm", "lowerarm")):
        return "left_sleeve" if side == "L" else "right_sleeve"
    if stem.startswith(("spine", "clavicle", "shoulder")):
        return "top"
    return "trousers"  # root, pelvis, legs, feet


_COLORS: dict[str, Color] = {"skin": SKIN, "top": TOP, "left_sleeve": LEFT_SLEEVE, "right_sleeve": RIGHT_SLEEVE,
                             "trousers": TROUSERS}


def vertex_colors(body: RestBody) -> np.ndarray:
    """``[V, 3]`` uint8 sRGB colour of each vertex (see module doc)."""
    parts = list(_COLORS)
    bone_part = np.array([parts.index(part(name)) for name in body.bone_names])
    totals = np.zeros((len(body.vertices), len(parts)))
    for k in range(body.skin_bones.shape[1]):
        np.add.at(totals, (np.arange(len(body.vertices)), bone_part[body.skin_bones[:, k]]), body.skin_weights[:, k])
    mix = totals**_SHARPNESS
    mix /= mix.sum(axis=1, keepdims=True)
    palette = np.array([_COLORS[p] for p in parts], np.float64)
    return np.round(mix @ palette).astype(np.uint8)


def hand_vertices(body: RestBody, side: str) -> np.ndarray:
    """Indices of the vertices that mostly move with hand ``side`` (``"L"`` or ``"R"``)."""
    hand = np.array([name.startswith(HANDS) and name.endswith(f".{side}") for name in body.bone_names])
    return np.flatnonzero(hand[body.skin_bones[:, 0]])
