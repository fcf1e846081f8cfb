"""One place for local paths and ``s3://`` URIs.

Everything that reads or writes files goes through these functions, so a path on local disk and an
object in S3 behave the same. S3 is reached with s3fs; the endpoint and credentials come from the
standard AWS environment variables (``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import uuid
from pathlib import Path

import fsspec

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(os.environ.get("SIGNAVATAR_CACHE", Path.home() / ".cache" / "signavatar"))


def is_remote(uri: str | os.PathLike) -> bool:
    return "://" in str(uri) and not str(uri).startswith("file://")


def s3_storage_options() -> dict:
    """s3fs options from the standard AWS environment variables."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    options: dict = {}
    if endpoint:
        options["endpoint_url"] = endpoint
    return options


def filesystem(uri: str | os.PathLike) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem for ``uri`` and the path inside it."""
    uri = str(uri)
    if uri.startswith("s3://"):
        import s3fs

        return s3fs.S3FileSystem(**s3_storage_options()), uri[len("s3://") :]
    if "://" in uri and not uri.startswith("file://"):
        fs, path = fsspec.core.url_to_fs(uri)
        return fs, path
    return fsspec.filesystem("file"), os.path.abspath(uri.removeprefix("file://"))


def absolute(uri: str | os.PathLike) -> str:
    """``uri`` with a local path made absolute (Ray workers and trials run in other working
    directories); remote URIs unchanged."""
    return str(uri) if is_remote(uri) else filesystem(uri)[1]


def ray_storage(uri: str | os.PathLike):
    """``(filesystem, path)`` to hand Ray (Train/Tune ``storage_filesystem``, Data ``filesystem``):
    remote URIs get a pyarrow wrapper of our s3fs filesystem (so the AWS endpoint settings apply),
    local paths get ``None`` and an absolute path."""
    if not is_remote(uri):
        return None, absolute(uri)
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def join(base: str | os.PathLike, *parts: str) -> str:
    base = str(base)
    if is_remote(base):
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def _fresh(uri: str | os.PathLike) -> tuple[fsspec.AbstractFileSystem, str]:
    """Filesystem and path with s3fs's listing cache dropped: other processes (Ray workers) write
    objects this process must see."""
    fs, path = filesystem(uri)
    if is_remote(uri):
        fs.invalidate_cache()
    return fs, path


def exists(uri: str | os.PathLike) -> bool:
    fs, path = _fresh(uri)
    return fs.exists(path)


def listdir(uri: str | os.PathLike, suffix: str = "") -> list[str]:
    """Full URIs of the entries directly under ``uri`` (sorted), optionally filtered by suffix.

    A missing directory lists as empty.
    """
    fs, path = _fresh(uri)
    if not fs.exists(path):
        return []
    prefix = str(uri).rstrip("/")
    names = sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False))
    return [f"{prefix}/{n}" if is_remote(uri) else os.path.join(prefix, n) for n in names if n.endswith(suffix)]


def makedirs(uri: str | os.PathLike) -> None:
    fs, path = filesystem(uri)
    if not is_remote(uri):
        fs.makedirs(path, exist_ok=True)


def read_bytes(uri: str | os.PathLike) -> bytes:
    fs, path = filesystem(uri)
    try:
        with fs.open(path, "rb") as f:
            return f.read()
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"not found: {uri}") from exc


def read_bytes_within(uri: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """``read_bytes``, refusing (ValueError naming the size and limit) a file over ``limit`` bytes
    before reading it."""
    fs, path = filesystem(uri)
    try:
        size = None if fs.isdir(path) else fs.size(path)
    except FileNotFoundError:
        size = None  # read_bytes says so
    if size is not None and size > limit:
        raise ValueError(f"{uri}: the {what} has {size} bytes; the limit is {limit}")
    return read_bytes(uri)


def read_text(uri: str | os.PathLike) -> str:
    return read_bytes(uri).decode("utf-8")


def write_bytes(uri: str | os.PathLike, data: bytes) -> None:
    """Write atomically: a local file is written beside the target and renamed over it; an S3
    object is a single PUT, which S3 makes visible all at once."""
    fs, path = filesystem(uri)
    if is_remote(uri):
        fs.pipe_file(path, data)
        return
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    # Created like any new file (mode 0666 less the umask), not mkstemp's 0600: what a command
    # writes is read by other tools and users as usual.
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(uri: str | os.PathLike, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def remove(uri: str | os.PathLike, recursive: bool = False) -> None:
    fs, path = filesystem(uri)
    if fs.exists(path):
        fs.rm(path, recursive=recursive)


def cached_local_copy(uri: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """A local path for ``uri``: local paths are returned as they are; remote objects are
    downloaded once into ``cache_dir`` (keyed by the URI) and reused afterwards."""
    if not is_remote(uri):
        path = Path(str(uri).removeprefix("file://"))
        if not path.exists():
            raise FileNotFoundError(f"not found: {path}")
        return path
    cache = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR / "downloads"
    key = hashlib.sha256(str(uri).encode()).hexdigest()[:16]
    target = cache / key / posixpath.basename(str(uri).rstrip("/"))
    if target.exists():
        return target
    log.info("downloading %s to %s", uri, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(read_bytes(uri))
    os.replace(tmp, target)
    return target
