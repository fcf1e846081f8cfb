"""Preview videos of motion clips: one clip, or several side by side (reference vs reconstruction
vs generation, as in the paper's Fig. 1).

Layout: every clip gets a ``size = (width, height)`` panel, panels left to right. A panel has a
title strip (its label), its views left to right (``front``, ``side``, ``hands``: a close-up of
each hand; see ``camera``), and a footer with the view names (the colour key of the signer's right
and left after the first) and the clip's own frame counter. All panels share one
pixels-per-metre scale per view, so bodies compare at the same size; each panel is centred on its
own clip, so differing global translations do not push a body out of frame.

Clips may differ in length and frame rate: the video runs at the first clip's fps for as long as
the longest clip lasts, each panel shows its clip's frame nearest in time and holds the last frame
once its clip has ended.

The body (``body``): ``avatar``, the free avatar mesh (``signavatar.avatar``); ``smplx``, the SMPL-X
mesh posed by the licensed model files at ``body_model_path``; ``skeleton``, the forward-kinematics
stick figure on the built-in rest skeleton; ``auto`` (the default), ``smplx`` when a model path is
given and ``avatar`` otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from signavatar import storage
from signavatar.body.body_model import load_body_model
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.motion.clip import MotionClip
from signavatar.rendering.camera import TRACKING_VIEWS, OrthoCamera, check_views, fit_cameras, track_cameras
from signavatar.rendering.mesh_view import MeshSequence, avatar_mesh, draw_mesh, pose_mesh
from signavatar.rendering.skeleton_view import (
    LEFT_COLOR,
    RIGHT_COLOR,
    SkeletonSequence,
    draw_skeleton,
    skeleton_sequence,
)
from signavatar.rendering.video_writer import FrameWriter, open_writer, output_format

log = logging.getLogger(__name__)

BACKGROUND = (250, 250, 246)
TEXT_COLOR = (30, 30, 30)
FAINT_COLOR = (140, 140, 140)
RULE_COLOR = (200, 200, 195)
MIN_PANEL_SIDE = 32
SKELETON_SUPERSAMPLE = 2  # skeletons are drawn at 2x and box-filtered down (anti-aliased lines)
MESH_SUPERSAMPLE = 2  # meshes too (smooth silhouettes and finger outlines)
_SKELETON_MARGIN_M = 0.12  # covers the head disk and line widths around the framing joints
_MESH_MARGIN_M = 0.03  # mesh framing already uses surface vertices
_HAND_MARGIN_M = {"skeleton": 0.025, "mesh": 0.012}  # around a hand's joints / its surface
BODIES = ("auto", "avatar", "smplx", "skeleton")


def resolve_body(body: str, body_model_path: str | None) -> str:
    """``avatar``, ``smplx`` or ``skeleton`` for a ``body`` choice (``auto``: ``smplx`` with a model
    path, else ``avatar``); ``smplx`` needs the model path."""
    if body not in BODIES:
        raise ValueError(f"unknown body {body!r}; expected one of {', '.join(BODIES)}")
    if body == "auto":
        return "smplx" if body_model_path else "avatar"
    if body == "smplx" and not body_model_path:
        raise ValueError("body 'smplx' needs the SMPL-X model files: give their folder (body model path)")
    return body


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    if len(size) != 2:
        raise ValueError(f"size must be (width, height), got {size!r}")
    width, height = int(size[0]), int(size[1])
    if width < MIN_PANEL_SIDE or height < MIN_PANEL_SIDE or width % 2 or height % 2:
        raise ValueError(f"panel size must be even and at least {MIN_PANEL_SIDE} on each side, got {width}x{height}")
    return width, height


def _default_label(clip: MotionClip) -> str:
    return f"{clip.gloss} ({clip.clip_id})" if clip.gloss else clip.clip_id


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    """``text``, cut with an ellipsis if it is wider than ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


class Preview:
    """The frames of a preview; ``frames()`` renders them one by one (nothing is kept).

    Args:
        clips: one or more clips, one panel each.
        labels: panel titles (default: ``"gloss (clip_id)"``).
        body_model_path: SMPL-X model folder or ``s3://`` prefix (for ``body="smplx"``).
        size: ``(width, height)`` of one panel in pixels (even numbers).
        views: any of ``"front"``, ``"side"``, ``"hands"``, in panel order.
        gender: which SMPL-X model file to use with ``body_model_path``.
        body: ``auto``, ``avatar``, ``smplx`` or ``skeleton`` (module doc).
    """

    def __init__(
        self,
        clips: Sequence[MotionClip],
        labels: Sequence[str] | None = None,
        body_model_path: str | None = None,
        size: Sequence[int] = (480, 360),
        views: Sequence[str] = ("front", "side"),
        gender: str = "neutral",
        body: str = "auto",
    ) -> None:
        clips = list(clips)
        if not clips:
            raise ValueError("render needs at least one clip")
        labels = [_default_label(c) for c in clips] if labels is None else [str(x) for x in labels]
        if len(labels) != len(clips):
            raise ValueError(f"got {len(labels)} labels for {len(clips)} clips")
        self.clips, self.labels = clips, labels
        self.views = check_views(views)
        self.panel_size = _check_size(size)
        self.size = (self.panel_size[0] * len(clips), self.panel_size[1])
        self.fps = clips[0].fps
        durations = [c.num_frames / c.fps for c in clips]
        self.num_frames = max(1, int(np.ceil(max(durations) * self.fps - 1e-6)))
        # source_frames[p][k]: the frame of clip p shown in output frame k
        self.source_frames = [
            np.minimum(np.round(np.arange(self.num_frames) * c.fps / self.fps).astype(int), c.num_frames - 1)
            for c in clips
        ]

        width, height = self.panel_size
        self._title_h = max(10, round(height * 0.08))
        self._footer_h = max(8, round(height * 0.06))
        self._view_w = width // len(self.views)
        self._view_h = height - self._title_h - self._footer_h
        self._title_font = ImageFont.load_default(size=max(8, round(self._title_h * 0.62)))
        self._small_font = ImageFont.load_default(size=max(7, round(self._footer_h * 0.7)))

        self.mode = resolve_body(body, body_model_path)
        if self.mode == "skeleton":
            self._geometry: list[SkeletonSequence | MeshSequence] = [
                skeleton_sequence(c, DEFAULT_REST_JOINTS) for c in clips
            ]
            margin = _SKELETON_MARGIN_M
        elif self.mode == "avatar":
            self._geometry = [avatar_mesh(c) for c in clips]
            margin = _MESH_MARGIN_M
        else:
            model = load_body_model(body_model_path, gender=gender)
            self._geometry = [pose_mesh(model, c) for c in clips]
            margin = _MESH_MARGIN_M
        points = [g.framing_points() for g in self._geometry]
        framed = tuple(v for v in self.views if v not in TRACKING_VIEWS)
        # cameras[view][panel] of the framed views; None for a tracking view
        fitted = iter(fit_cameras(points, framed, self._view_w, self._view_h, margin_m=margin) if framed else [])
        self._cameras: list[list[OrthoCamera] | None] = [None if v in TRACKING_VIEWS else next(fitted)
                                                         for v in self.views]
        # the hands view: cameras[2 * panel + hand][frame], each hand in half of the view, one scale
        self._hand_w = self._view_w // 2
        hand_margin = _HAND_MARGIN_M["skeleton" if self.mode == "skeleton" else "mesh"]
        self._hand_cameras = track_cameras([g.hand_points(hand) for g in self._geometry for hand in (0, 1)], "hands",
                                           self._hand_w, self._view_h, margin_m=hand_margin) if "hands" in self.views else []
        self._static = self._static_layer()

    def view_box(self, panel: int, view: int) -> tuple[int, int, int, int]:
        """Pixel box ``(left, top, right, bottom)`` of a view in the output frame (no text in it)."""
        left = panel * self.panel_size[0] + view * self._view_w
        return left, self._title_h, left + self._view_w, self._title_h + self._view_h

    def _static_layer(self) -> Image.Image:
        """Titles, view names, colour key and rules: everything that does not move."""
        image = Image.new("RGB", self.size, BACKGROUND)
        draw = ImageDraw.Draw(image)
        width, height = self.panel_size
        footer_y = height - self._footer_h / 2
        for p, label in enumerate(self.labels):
            x0 = p * width
            title = _fit_text(draw, label, self._title_font, width - 8)
            draw.text((x0 + width / 2, self._title_h / 2), title, fill=TEXT_COLOR, font=self._title_font, anchor="mm")
            for v, view in enumerate(self.views):
                vx = self.view_box(p, v)[0]
                draw.text((vx + 4, footer_y), view, fill=FAINT_COLOR, font=self._small_font, anchor="lm")
                if v:
                    draw.line([vx, self._title_h + 4, vx, height - self._footer_h - 4], fill=RULE_COLOR)
            if self.mode != "smplx":  # colour key (the avatar's sleeves), after the first view's name
                key_x = x0 + 4 + draw.textlength(f"{self.views[0]}  ", font=self._small_font)
                draw.text((key_x, footer_y), "right", fill=RIGHT_COLOR, font=self._small_font, anchor="lm")
                key_x += draw.textlength("right ", font=self._small_font)
                draw.text((key_x, footer_y), "left", fill=LEFT_COLOR, font=self._small_font, anchor="lm")
            if p:
                draw.line([x0, 0, x0, height], fill=FAINT_COLOR)
        return image

    def _draw_view(self, panel: int, view: int, frame: int) -> Image.Image:
        cameras = self._cameras[view]
        if cameras is None:  # the hands view: two tiles, the signer's right hand first
            image = Image.new("RGB", (self._view_w, self._view_h), BACKGROUND)
            for hand in (0, 1):
                image.paste(self._draw(self._hand_cameras[2 * panel + hand][frame], panel, frame), (hand * self._hand_w, 0))
            ImageDraw.Draw(image).line([self._hand_w, 4, self._hand_w, self._view_h - 4], fill=RULE_COLOR)
            return image
        return self._draw(cameras[panel], panel, frame)

    def _draw(self, camera: OrthoCamera, panel: int, frame: int) -> Image.Image:
        geometry = self._geometry[panel]
        if isinstance(geometry, MeshSequence):
            big = camera.scaled(MESH_SUPERSAMPLE)
            return Image.fromarray(draw_mesh(big, geometry, frame, BACKGROUND)).reduce(MESH_SUPERSAMPLE)
        big = camera.scaled(SKELETON_SUPERSAMPLE)
        image = Image.new("RGB", (big.width, big.height), BACKGROUND)
        draw_skeleton(image, big, geometry, frame, BACKGROUND)
        return image.reduce(SKELETON_SUPERSAMPLE)

    def frame(self, k: int) -> np.ndarray:
        """Output frame ``k`` as ``[height, width * len(clips), 3]`` uint8."""
        image = self._static.copy()
        draw = ImageDraw.Draw(image)
        width, height = self.panel_size
        for p, clip in enumerate(self.clips):
            t = int(self.source_frames[p][k])
            for v in range(len(self.views)):
                image.paste(self._draw_view(p, v, t), self.view_box(p, v)[:2])
            counter = f"{t + 1}/{clip.num_frames}"
            draw.text(
                ((p + 1) * width - 4, height - self._footer_h / 2), counter, fill=FAINT_COLOR, font=self._small_font,
                anchor="rm",
            )
        return np.asarray(image)

    def frames(self) -> Iterator[np.ndarray]:
        for k in range(self.num_frames):
            yield self.frame(k)

    def write(self, out_paths: Sequence[str | Path]) -> None:
        """Render once and encode into every path (``.mp4`` / ``.gif``; local or ``s3://``)."""
        writers: list[FrameWriter] = [open_writer(str(path), self.fps, self.size) for path in out_paths]
        for frame in self.frames():
            for writer in writers:
                writer.write(frame)
        for path, writer in zip(out_paths, writers):
            storage.write_bytes(str(path), writer.finish())
            log.info(
                "wrote %s (%d frames, %dx%d, %.3g fps, %s)", path, self.num_frames, *self.size, self.fps, self.mode
            )


def render_preview(
    clips: Sequence[MotionClip],
    out_path: str | Path,
    labels: Sequence[str] | None = None,
    body_model_path: str | None = None,
    size: Sequence[int] = (480, 360),
    views: Sequence[str] = ("front", "side"),
    gender: str = "neutral",
    gif_path: str | Path | None = None,
    body: str = "auto",
) -> Preview:
    """Render ``clips`` side by side into ``out_path`` (``.mp4`` or ``.gif``, local or ``s3://``),
    and the same frames into ``gif_path`` when given. See ``Preview`` for the arguments."""
    for path in (out_path, gif_path):
        if path is not None:
            output_format(str(path))  # fail on a bad suffix before rendering anything
    preview = Preview(clips, labels=labels, body_model_path=body_model_path, size=size, views=views, gender=gender,
                      body=body)
    preview.write([out_path] if gif_path is None else [out_path, gif_path])
    return preview
