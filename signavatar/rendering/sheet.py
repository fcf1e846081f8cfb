"""A preview sheet: several rows of side-by-side previews in one animation (and one still), e.g.
one row per gloss with real clips of two sessions beside several generated samples, so a reader
sees at a glance whether generated signing varies the way real signers do.

Each row is a ``preview.Preview`` (its panels share one scale); rows are stacked top to bottom and
play together; a row that ends first holds its last frame. The still is the middle frame.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

import numpy as np
from PIL import Image

from signavatar import storage
from signavatar.motion.clip import MotionClip
from signavatar.rendering.preview import Preview
from signavatar.rendering.video_writer import open_writer, output_format

log = logging.getLogger(__name__)


def render_sheet(rows: Sequence[Sequence[MotionClip]], labels: Sequence[Sequence[str]], out_path: str,
                 still_path: str | None = None, size: Sequence[int] = (200, 220),
                 views: Sequence[str] = ("front",), body: str = "auto", body_model_path: str | None = None,
                 gender: str = "neutral", frame_step: int = 1) -> tuple[int, int]:
    """Render ``rows`` of clips (each row with its panel ``labels``) into ``out_path`` (``.mp4`` or
    ``.gif``, local or ``s3://``) and its middle frame into ``still_path`` (``.png``); every row has
    the same number of panels. ``body``, ``body_model_path`` and ``gender`` choose the body as in
    ``Preview``; ``frame_step`` > 1 draws every ``frame_step``-th frame (at the same speed: a sheet of
    many meshes costs a fraction). Returns the sheet's ``(width, height)``."""
    if frame_step < 1:
        raise ValueError(f"frame_step must be at least 1, got {frame_step}")
    output_format(out_path)  # a bad suffix fails before anything is rendered
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValueError(f"a sheet needs rows of equal length, got {[len(r) for r in rows]}")
    if len(labels) != len(rows):
        raise ValueError(f"got {len(labels)} label rows for {len(rows)} rows")
    previews = [Preview(clips, labels=row_labels, size=size, views=views, body=body, body_model_path=body_model_path,
                        gender=gender) for clips, row_labels in zip(rows, labels)]
    width, height = previews[0].size[0], sum(p.size[1] for p in previews)
    num_frames = max(p.num_frames for p in previews)
    shown = range(0, num_frames, frame_step)
    writer = open_writer(out_path, previews[0].fps / frame_step, (width, height))
    middle = None
    for k in shown:
        frame = np.concatenate([p.frame(min(k, p.num_frames - 1)) for p in previews], axis=0)
        writer.write(frame)
        if k == shown[len(shown) // 2]:
            middle = frame
    storage.write_bytes(out_path, writer.finish())
    if still_path is not None:
        buffer = io.BytesIO()
        Image.fromarray(middle).save(buffer, format="PNG")
        storage.write_bytes(still_path, buffer.getvalue())
    log.info("wrote sheet %s (%d rows x %d panels, %d frames, %dx%d)", out_path, len(rows), len(rows[0]), len(shown),
             width, height)
    return width, height
