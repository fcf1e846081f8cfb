"""Write clips as the files people use: AMASS-style ``.npz`` (Blender SMPL-X add-on) and JSON."""

from __future__ import annotations

import json

from signavatar import storage
from signavatar.motion.amass import save_npz
from signavatar.motion.clip import MotionClip
from signavatar.motion.json_io import clip_to_dict


def write_clip(clip: MotionClip, directory: str, gender: str = "neutral") -> dict[str, str]:
    """``<directory>/<clip_id>.npz`` and ``.json``; returns both paths."""
    npz = storage.join(directory, f"{clip.clip_id}.npz")
    js = storage.join(directory, f"{clip.clip_id}.json")
    save_npz(clip, npz, gender=gender)
    storage.write_text(js, json.dumps(clip_to_dict(clip)))
    return {"npz": npz, "json": js}
