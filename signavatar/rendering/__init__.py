"""Preview videos of motion clips: the free avatar (default), the FK skeleton or the posed SMPL-X
mesh, front and side views and a close-up of each hand, one clip or several side by side, as mp4 or
gif (``signavatar render``), and quality sheets of rows of them."""

from signavatar.rendering.camera import VIEWS, OrthoCamera, fit_cameras
from signavatar.rendering.mesh_view import MeshSequence, pose_mesh, rasterize
from signavatar.rendering.preview import Preview, render_preview
from signavatar.rendering.skeleton_view import SkeletonSequence, skeleton_sequence
from signavatar.rendering.video_writer import GifWriter, Mp4Writer, open_writer

__all__ = [
    "VIEWS",
    "GifWriter",
    "MeshSequence",
    "Mp4Writer",
    "OrthoCamera",
    "Preview",
    "SkeletonSequence",
    "fit_cameras",
    "open_writer",
    "pose_mesh",
    "rasterize",
    "render_preview",
    "skeleton_sequence",
]
