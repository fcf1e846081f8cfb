"""``signavatar landmarks VIDEO --out FILE.pose``: MediaPipe Holistic on one video -> a ``.pose`` file.

The video (local or s3://) is decoded at its own resolution, so the file's image landmarks are
pixels of the video, as in the community's files (layout: ``signavatar.extraction.pose_writer``).
Holistic runs in the mediapipe environment (``make mediapipe-env``; ``extract.holistic.*``
settings apply). Prints one JSON line: frames, fps, frame size and the frames in which each
component was detected. ``signavatar fit FILE.pose`` turns the result into SMPL-X.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
from collections.abc import Iterator

import av
import decord
import numpy as np

from signavatar.commands import check_out
from signavatar.config import (
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_MAX_VIDEO_FRAMES,
    DEFAULT_MAX_VIDEO_PIXELS,
    load_config,
)
from signavatar.extraction.estimators.holistic_record import HolisticVideo
from signavatar.extraction.estimators.holistic_worker import HolisticWorker
from signavatar.extraction.pose_writer import write_pose_file
from signavatar.extraction.video import VideoError, read_video_bytes

log = logging.getLogger(__name__)


def _chunks(reader: decord.VideoReader, uri: str, chunk_frames: int) -> Iterator[np.ndarray]:
    for start in range(0, len(reader), chunk_frames):
        indices = list(range(start, min(start + chunk_frames, len(reader))))
        try:
            yield reader.get_batch(indices).asnumpy()
        except (decord.DECORDError, RuntimeError) as exc:
            raise VideoError("undecodable", f"{uri}: frames {indices[0]}..{indices[-1]} failed to decode: {exc}") from exc


def _check_frame_size(data: bytes, uri: str, max_pixels: int) -> None:
    """A video whose frames are over ``max_pixels`` is refused from its stream header."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            width, height = container.streams.video[0].codec_context.width, container.streams.video[0].codec_context.height
    except (av.FFmpegError, IndexError) as exc:
        raise VideoError("undecodable", f"{uri}: no readable video stream ({type(exc).__name__})") from exc
    if width * height > max_pixels:
        raise VideoError("too_large", f"{uri}: {width}x{height} = {width * height} pixels per frame; the limit is "
                                      f"{max_pixels} (--max-pixels)")


def video_landmarks(uri: str, worker: HolisticWorker, chunk_frames: int = 64, max_frames: int | None = None,
                    max_pixels: int | None = None, max_bytes: int | None = None) -> HolisticVideo:
    """Holistic landmarks of every frame of the video at ``uri``, at its own resolution and rate,
    upright as a player shows it (decord applies rotation metadata at full size); a file over
    ``max_bytes``, a video of more than ``max_frames`` frames or ``max_pixels`` per frame is
    refused before any frame is decoded."""
    data = read_video_bytes(uri, max_bytes)
    if max_pixels is not None:
        _check_frame_size(data, uri, max_pixels)
    try:
        reader = decord.VideoReader(io.BytesIO(data), ctx=decord.cpu(0), num_threads=1)
    except (decord.DECORDError, RuntimeError) as exc:
        raise VideoError("undecodable", f"{uri}: decord cannot open it ({str(exc).splitlines()[0][:200]})") from exc
    if max_frames is not None and len(reader) > max_frames:
        raise VideoError("too_long", f"{uri}: {len(reader)} frames; the limit is {max_frames} (--max-frames)")
    return worker.process_video(_chunks(reader, uri, chunk_frames), float(reader.get_avg_fps()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="signavatar landmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("video", help="video file (mp4, webm, ...), local or s3://")
    parser.add_argument("--out", required=True, help="output .pose file (local or s3://)")
    parser.add_argument("--no-face", action="store_true", help="skip the 468-point face mesh (masked in the file)")
    parser.add_argument("--max-frames", type=int, default=DEFAULT_MAX_VIDEO_FRAMES,
                        help="refuse a longer video before decoding it (default: the server's max_video_frames, "
                             "%(default)s)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_VIDEO_PIXELS,
                        help="refuse larger frames before decoding (default: the server's max_video_pixels, "
                             "%(default)s)")
    parser.add_argument("--config", help="YAML config (extract.holistic settings, extract.chunk_frames)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. extract.holistic.python=/opt/mp/bin/python")
    args = parser.parse_intermixed_args(argv)
    check_out(args.out, (".pose",))  # before any work
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_config(args.config, args.overrides).extract
    worker = HolisticWorker(cfg.holistic.model_copy(update={"face": not args.no_face}))
    try:
        video = video_landmarks(args.video, worker, cfg.chunk_frames, args.max_frames, args.max_pixels,
                                DEFAULT_MAX_UPLOAD_BYTES)
        write_pose_file(video, args.out, worker.hello.get("topology"))
    finally:
        worker.close()
    report = {
        "video": args.video,
        "out": args.out,
        "frames": video.num_frames,
        "fps": video.fps,
        "width": video.width,
        "height": video.height,
        "detected": video.detected(),
    }
    print(json.dumps(report))
    return 0
