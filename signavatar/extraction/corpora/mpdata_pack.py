r"""A whole mpdata corpus in two files, lossless: ``mpdata_pack.json`` (header) + ``mpdata_pack.xz``.

Thousands of tiny ``.npy`` files cost far more disk and listing time than their values (the
real 900-sequence corpus: 18,000 files, 74 MB on disk, 37 MB of float64). The pack keeps every
value bit for bit:

1. every frame vector of every sequence, concatenated in header order -> ``[N, V]``;
2. stored as float32 when every value is exactly a float32 (MediaPipe's are), else float64;
3. each column's bit patterns as unsigned integers, differenced along the frames (modulo 2^bits:
   neighbouring frames share their high bits, so the differences are mostly small);
4. transposed to ``[V, N]`` and split into byte planes (all lowest bytes, then the next ...), so
   bytes of the same significance sit together;
5. xz (LZMA) compressed.

The header lists the sequences (``[gloss, sequence, frames]`` in storage order), the dtype, the
shape and the SHA-256 of the decoded ``[N, V]`` array (little-endian), which decoding checks.
The importer reads a pack directly (``extract.source=mpdata`` on a folder holding the header).

    python -m signavatar.extraction.corpora.mpdata_pack SOURCE_TREE DEST_FOLDER
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import lzma
import sys

import numpy as np

from signavatar import storage
from signavatar.extraction.corpora.base import CorpusLayoutError, CorpusReadError, Limits
from signavatar.extraction.corpora.mpdata import (
    VALUES_PER_FRAME,
    list_tree,
    read_tree_values,
    sequence_task,
    subdirectories,
)
from signavatar.extraction.corpus_index import VideoTask

log = logging.getLogger(__name__)

FORMAT = "signavatar.mpdata-pack/1"
HEADER = "mpdata_pack.json"
DATA = "mpdata_pack.xz"
_MAX_HEADER_BYTES = 64 * 1024 * 1024
_UNSIGNED = {"float32": np.dtype("<u4"), "float64": np.dtype("<u8")}


def is_pack(root: str) -> bool:
    return storage.exists(storage.join(root, HEADER))


def encode(values: np.ndarray) -> tuple[bytes, str]:
    """``[N, V]`` values -> (compressed bytes, stored dtype name); see the module docstring."""
    as32 = values.astype(np.float32)
    dtype = "float32" if np.array_equal(as32.astype(values.dtype), values, equal_nan=True) else "float64"
    stored = np.ascontiguousarray(as32 if dtype == "float32" else values, dtype=np.dtype(dtype).newbyteorder("<"))
    bits = stored.view(_UNSIGNED[dtype])
    delta = bits.copy()
    delta[1:] -= bits[:-1]
    planes = np.ascontiguousarray(delta.T).view(np.uint8).reshape(delta.shape[1], delta.shape[0], -1)
    return lzma.compress(np.ascontiguousarray(planes.transpose(2, 0, 1)).tobytes(), preset=6), dtype


def decode(blob: bytes, frames: int, values_per_frame: int, dtype: str, where: str) -> np.ndarray:
    """The inverse of ``encode``: ``[N, V]`` in the stored dtype. The decompressed size is bounded
    by the header's shape before anything is allocated beyond it."""
    unsigned = _UNSIGNED[dtype]
    expected = frames * values_per_frame * unsigned.itemsize
    decompressor = lzma.LZMADecompressor()
    try:
        raw = decompressor.decompress(blob, max_length=expected)
    except lzma.LZMAError as exc:
        raise CorpusReadError("undecodable", f"{where}: not xz data ({exc})") from exc
    if len(raw) != expected or not decompressor.eof:
        raise CorpusReadError("undecodable", f"{where}: decodes to a different size than the header's "
                                             f"{frames} x {values_per_frame} {dtype}")
    planes = np.frombuffer(raw, np.uint8).reshape(unsigned.itemsize, values_per_frame, frames)
    delta = np.ascontiguousarray(planes.transpose(1, 2, 0)).view(unsigned)[..., 0].T
    bits = np.cumsum(delta, axis=0, dtype=unsigned)  # wraps modulo 2^bits, undoing the difference
    return bits.view(np.dtype(dtype).newbyteorder("<"))


def digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<")).tobytes()).hexdigest()


def read_header(root: str) -> dict:
    """The pack's header, checked (format, shape, sequences adding up to the frame count)."""
    uri = storage.join(root, HEADER)
    text = Limits(max_frames=1, max_file_bytes=_MAX_HEADER_BYTES).read_bytes(uri)
    try:
        header = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorpusLayoutError(f"{uri}: not valid JSON ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CorpusLayoutError(f"{uri}: format {header.get('format') if isinstance(header, dict) else None!r}, "
                                f"expected {FORMAT!r}")
    try:
        sequences = [(str(g), str(s), int(n)) for g, s, n in header["sequences"]]
        ok = (header["dtype"] in _UNSIGNED and header["values_per_frame"] in VALUES_PER_FRAME
              and sum(n for *_, n in sequences) == header["frames"] and all(n > 0 for *_, n in sequences))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorpusLayoutError(f"{uri}: malformed header ({type(exc).__name__}: {exc})") from exc
    if not ok:
        raise CorpusLayoutError(f"{uri}: inconsistent header (dtype, values_per_frame or sequence frame counts)")
    return {**header, "sequences": sequences}


def _fingerprint(uri: str) -> str:
    """What changes when a file is rewritten (size and modification time, or the S3 ETag)."""
    fs, path = storage.filesystem(uri)
    try:
        info = fs.info(path)
    except FileNotFoundError as exc:
        raise CorpusReadError("missing", f"{uri}: no such file or object") from exc
    return f"{info.get('size')}:{info.get('mtime') or info.get('LastModified')}:{info.get('ETag', '')}"


def _decoded(root: str, max_file_bytes: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Header, decoded values and each sequence's first row; decoded once per process for as
    long as neither file changes."""
    files = (storage.join(root, HEADER), storage.join(root, DATA))
    return _decode_pack(root, max_file_bytes, tuple(_fingerprint(f) for f in files))


@functools.lru_cache(maxsize=2)
def _decode_pack(root: str, max_file_bytes: int, _fingerprints: tuple[str, ...]) -> tuple[dict, np.ndarray, np.ndarray]:
    header = read_header(root)
    frames, width, dtype = header["frames"], header["values_per_frame"], header["dtype"]
    where = storage.join(root, DATA)
    if frames * width * np.dtype(dtype).itemsize > max_file_bytes:
        raise CorpusReadError("too_large", f"{where}: decodes to {frames} x {width} {dtype}, more than "
                                           f"extract.max_file_bytes={max_file_bytes}")
    values = decode(Limits(1, max_file_bytes).read_bytes(where), frames, width, dtype, where)
    if digest(values) != header["sha256"]:
        raise CorpusReadError("undecodable", f"{where}: decoded values do not match the header's sha256")
    starts = np.concatenate([[0], np.cumsum([n for *_, n in header["sequences"]])])
    return header, values, starts


def read_sequence_values(root: str, index: int, limits: Limits) -> np.ndarray:
    """Sequence ``index`` (header order) of the pack -> ``[T, V]`` float64, exactly as packed."""
    header, values, starts = _decoded(root, limits.max_file_bytes)
    gloss, sequence, frames = header["sequences"][index]
    limits.check_frames(frames, f"{root} {gloss}/{sequence}")
    return values[starts[index] : starts[index + 1]].astype(np.float64)


def list_pack(root: str, fps: float, group_size: int | None, skip_frames: int) -> list[VideoTask]:
    return [sequence_task(gloss, sequence, root, "mpdata_pack", fps, group_size, skip_frames, index=i)
            for i, (gloss, sequence, _) in enumerate(read_header(root)["sequences"])]


def pack_tree(source: str, dest: str, limits: Limits | None = None) -> dict:
    """Pack the mpdata tree ``source`` into ``dest`` (header + data), check that it decodes to
    exactly the tree's values, and return the header."""
    limits = limits or Limits(max_frames=100_000, max_file_bytes=1 << 34)
    tasks = list_tree(source, fps=0.0, group_size=None, skip_frames=0)
    parts = [read_tree_values(t.uri, limits) for t in tasks]
    widths = {p.shape[1] for p in parts}
    if len(widths) != 1:
        raise CorpusLayoutError(f"{source}: sequences have different values per frame {sorted(widths)}")
    values = np.concatenate(parts)
    blob, dtype = encode(values)
    header = {
        "format": FORMAT,
        "dtype": dtype,
        "values_per_frame": int(values.shape[1]),
        "frames": int(values.shape[0]),
        "sha256": digest(values.astype(dtype)),
        "encoding": "frames concatenated [N, V]; bit patterns differenced along N (mod 2^bits); "
                    "transposed to [V, N]; byte planes, lowest byte first; xz",
        "sequences": [[t.gloss, t.extra["sequence"], int(p.shape[0])] for t, p in zip(tasks, parts, strict=True)],
    }
    decoded = decode(blob, header["frames"], header["values_per_frame"], dtype, dest)
    if not np.array_equal(decoded.astype(values.dtype), values, equal_nan=True):
        raise AssertionError("the pack does not decode to the source values")  # encode/decode disagree: a bug
    storage.write_bytes(storage.join(dest, DATA), blob)
    storage.write_text(storage.join(dest, HEADER), json.dumps(header, separators=(",", ":")))
    log.info("packed %d sequences (%d frames x %d values, %s) from %s into %s: %d bytes",
             len(tasks), values.shape[0], values.shape[1], dtype, source, dest, len(blob))
    return header


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="mpdata tree: <sign>/<sequence>/<frame>.npy")
    parser.add_argument("dest", help="folder for mpdata_pack.json + mpdata_pack.xz")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if not subdirectories(args.source):
        sys.exit(f"{args.source}: no sign folders")
    header = pack_tree(args.source, args.dest)
    print(json.dumps({k: v for k, v in header.items() if k != "sequences"} | {"sequences": len(header["sequences"])}))


if __name__ == "__main__":
    main()
