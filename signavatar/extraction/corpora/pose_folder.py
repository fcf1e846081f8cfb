"""A folder of ``.pose`` files (pose-format, e.g. the sign-language-datasets releases).

The gloss of a file is its parent folder's name (``<input>/<gloss>/<name>.pose``, at any depth
below ``input``), or its row in ``extract.labels``: a CSV with columns ``path`` (relative to
``input``) and ``gloss``, optionally ``signer`` (the group for ``split=group``) and ``split``
(used by ``split=index``). Frame size, rate and units come from each file
(``signavatar.extraction.pose_files``). A file's size is checked before it is read; the format is
uncompressed, so that bounds its decoded size.
"""

from __future__ import annotations

import csv
import io
import posixpath

from signavatar import storage
from signavatar.extraction.corpora.base import CorpusLayoutError, CorpusReadError, Limits
from signavatar.extraction.corpora.gislr import safe_relative
from signavatar.extraction.corpus_index import VideoTask
from signavatar.extraction.landmarks import HolisticLandmarks
from signavatar.extraction.pose_files import PoseFileError, read_pose_file

POSE_EXT = ".pose"


def find_pose_files(root: str) -> list[str]:
    """Paths of every ``.pose`` file under ``root``, relative to it (``/``-separated), sorted."""
    fs, path = storage.filesystem(root)
    if storage.is_remote(root):
        fs.invalidate_cache()
    if not fs.isdir(path):
        raise CorpusLayoutError(f"{root}: not a folder")
    base = path.rstrip("/") + "/"
    found = [p[len(base):] if p.startswith(base) else posixpath.basename(p) for p in fs.find(path)]
    return sorted(p for p in found if p.endswith(POSE_EXT))


def _clip_id(relative: str) -> str:
    return relative[: -len(POSE_EXT)].replace("/", "-")


def _labels(uri: str, limits: Limits) -> dict[str, dict[str, str]]:
    """``extract.labels``: relative path -> its row."""
    try:
        text = limits.read_bytes(uri).decode("utf-8")
    except CorpusReadError as exc:
        raise CorpusLayoutError(f"extract.labels: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("path", "gloss") if c not in (reader.fieldnames or [])]
    if missing:
        raise CorpusLayoutError(f"{uri}: missing columns {missing} (has {reader.fieldnames})")
    rows = {}
    for line, row in enumerate(reader, start=2):
        path = safe_relative((row["path"] or "").strip(), f"{uri} line {line}")
        if not (row["gloss"] or "").strip():
            raise CorpusLayoutError(f"{uri} line {line}: empty gloss")
        if path in rows:
            raise CorpusLayoutError(f"{uri} line {line}: {path} appears twice")
        rows[path] = {k: (v or "").strip() for k, v in row.items() if k}
    return rows


def list_sequences(root: str, labels: str | None, limits: Limits, skip_frames: int) -> list[VideoTask]:
    """One task per ``.pose`` file (labelled by folder), or per row of ``labels``."""
    if labels:
        rows = _labels(labels, limits)
        entries = sorted(rows.items())
    else:
        entries = [(p, {"gloss": posixpath.basename(posixpath.dirname(p))}) for p in find_pose_files(root)]
        unlabelled = [p for p, row in entries if not row["gloss"]]
        if unlabelled:
            raise CorpusLayoutError(f"{root}: {unlabelled[:3]} are not inside a folder named by their gloss "
                                    "(put them in <gloss>/ folders or give extract.labels)")
    tasks, seen = [], {}
    for relative, row in entries:
        clip_id = _clip_id(relative)
        if clip_id in seen:
            raise CorpusLayoutError(f"{root}: {relative} and {seen[clip_id]} both make clip id {clip_id!r}")
        seen[clip_id] = relative
        extra = {"layout": "pose", "path": relative}
        if row.get("signer"):
            extra.update(group=row["signer"], group_by="signer")
        tasks.append(VideoTask(clip_id=clip_id, gloss=row["gloss"], split=row.get("split") or "unsplit",
                               uri=storage.join(root, *relative.split("/")), frame_start=skip_frames,
                               signer_id=row.get("signer") or None, extra=extra))
    if not tasks:
        raise CorpusLayoutError(f"{root}: no .pose files" + (f" listed in {labels}" if labels else ""))
    return tasks


def read_sequence(uri: str, limits: Limits) -> HolisticLandmarks:
    limits.check_size(uri)
    try:
        landmarks = read_pose_file(uri)
    except FileNotFoundError as exc:
        raise CorpusReadError("missing", f"{uri}: no such file or object") from exc
    except PoseFileError as exc:
        raise CorpusReadError(exc.reason, str(exc)) from exc
    limits.check_frames(landmarks.num_frames, uri)
    return landmarks
