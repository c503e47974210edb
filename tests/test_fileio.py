"""The one atomic writer: old file kept on failure, ordinary permissions,
and only a dead process's temporary files are ever cleaned up."""
import os
import stat
import subprocess
import sys

import pytest

from minigrad.fileio import TEMP_MARK, atomic_write, remove_stale_temporaries, write_bytes


def test_write_replaces_the_file_with_mode_0644(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(target) as f:
            f.write(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_stale_temporaries_of_dead_processes_are_removed_and_nothing_else(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".model.npz{TEMP_MARK}{dead}"
    live = tmp_path / f".model.npz{TEMP_MARK}{os.getpid()}"   # a writer still running
    mine = tmp_path / ".model.npz.tmp123"                      # a user's file, another pattern
    for path in (stale, live, mine):
        path.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == [stale.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, mine.name])
