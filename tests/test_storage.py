import os

import pytest

from signavatar import storage


@pytest.fixture(params=["local", "s3"])
def base(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("s3_bucket") + "/store"


def test_write_read_list_exists(base):
    assert not storage.exists(storage.join(base, "a.txt"))
    assert storage.listdir(base) == []
    storage.write_text(storage.join(base, "a.txt"), "hello")
    storage.write_bytes(storage.join(base, "b.bin"), b"\x00\x01")
    assert storage.read_text(storage.join(base, "a.txt")) == "hello"
    assert storage.read_bytes(storage.join(base, "b.bin")) == b"\x00\x01"
    assert [u.rsplit("/", 1)[-1] for u in storage.listdir(base)] == ["a.txt", "b.bin"]
    assert storage.listdir(base, suffix=".bin") == [storage.join(base, "b.bin")]
    storage.remove(storage.join(base, "a.txt"))
    assert not storage.exists(storage.join(base, "a.txt"))


def test_missing_object_names_uri(base):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        storage.read_bytes(storage.join(base, "nope.txt"))


def test_local_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "x.json"
    storage.write_text(target, "1")
    storage.write_text(target, "2")
    assert target.read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_written_files_get_the_usual_mode(tmp_path):
    """Like any new file, 0666 less the umask (not a temporary file's 0600)."""
    old = os.umask(0o022)
    try:
        storage.write_bytes(tmp_path / "clip.npz", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "clip.npz").stat().st_mode & 0o777 == 0o644


def test_bounded_read_refuses_a_large_file_before_reading(tmp_path):
    (tmp_path / "big.bin").write_bytes(bytes(1000))
    assert storage.read_bytes_within(tmp_path / "big.bin", 1000) == bytes(1000)
    with pytest.raises(ValueError, match="big.bin: the video has 1000 bytes; the limit is 999"):
        storage.read_bytes_within(tmp_path / "big.bin", 999, "video")
    with pytest.raises(FileNotFoundError, match="not found"):
        storage.read_bytes_within(tmp_path / "nope.bin", 999)


def test_cached_local_copy_downloads_once(s3_bucket, tmp_path):
    uri = f"{s3_bucket}/models/weights.bin"
    storage.write_bytes(uri, b"abc")
    first = storage.cached_local_copy(uri, tmp_path / "cache")
    assert first.read_bytes() == b"abc"
    storage.write_bytes(uri, b"changed")  # the cache is keyed by URI, not refetched
    assert storage.cached_local_copy(uri, tmp_path / "cache") == first
    assert first.read_bytes() == b"abc"
    with pytest.raises(FileNotFoundError):
        storage.cached_local_copy(tmp_path / "missing.bin")
