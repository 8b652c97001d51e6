"""Temporary files of killed writers are removed by the next write; live writers' never are."""
import fcntl
import os
import time

from model.atomic_file import atomic_path, remove_stale_temporary_files, write_bytes_atomic


def _leftover(folder, name, age_seconds):
    path = folder / name
    path.write_bytes(b"x" * 1000)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def test_the_next_write_removes_what_a_killed_writer_left(tmp_path):
    stale = _leftover(tmp_path, ".step-000100.pt.k3j_9xq2.part", 3600)
    write_bytes_atomic(tmp_path / "other.rvq", [b"data"])
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.rvq"]


def test_a_live_writers_file_and_other_files_are_kept(tmp_path):
    locked = _leftover(tmp_path, ".clip.rvq.abcdefgh.part", 3600)
    fresh = _leftover(tmp_path, ".clip.rvq.12345678.part", 0)
    users = [_leftover(tmp_path, name, 3600) for name in ("notes.part", ".x.part", "a.b.abcdefgh.part")]
    with open(locked, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert remove_stale_temporary_files(tmp_path) == []
    assert all(p.exists() for p in (locked, fresh, *users))


def test_a_writer_holds_its_temporary_file_locked(tmp_path):
    with atomic_path(tmp_path / "out.bin") as temp:
        os.utime(temp, (0, 0))  # as old as can be: only the lock protects it
        assert remove_stale_temporary_files(tmp_path) == []
        with open(temp, "wb") as f:
            f.write(b"done")
    assert (tmp_path / "out.bin").read_bytes() == b"done"
