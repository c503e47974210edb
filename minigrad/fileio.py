"""Writing files so that a crash never leaves half a file behind.

Every file minigrad writes (checkpoints, downloads, caches, metrics, plots)
goes through :func:`atomic_write`: the bytes go to a temporary file in the
same folder, which is flushed, synced and then renamed over the target in
one step. A reader sees the old file or the new one, never a mix; if the
write fails, the old file is untouched, the temporary file is removed, and the
OSError names the target (never the temporary file).
"""
import contextlib
import os
from pathlib import Path

__all__ = ["TEMP_MARK", "atomic_write", "remove_stale_temporaries", "write_bytes"]

TEMP_MARK = ".tmp-minigrad-"  # temporary files are named ".<target><TEMP_MARK><pid>"


@contextlib.contextmanager
def atomic_write(path, mode=0o644):
    """``with atomic_write(path) as f: f.write(...)``: ``f`` is a binary file
    that replaces ``path`` (with permissions ``mode``) only if the block ends
    without an error."""
    path = Path(path)
    temp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    try:
        with open(temp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as error:
        if error.errno is None or error.filename not in (None, str(temp)):
            raise  # not about the file being written
        # Name the user's file, not the hidden temporary one (or none, as a full disk does).
        raise OSError(error.errno, error.strerror, str(path)) from None
    finally:
        if temp.exists():
            temp.unlink()


def write_bytes(path, payload, mode=0o644):
    """Write ``payload`` (bytes) to ``path`` atomically."""
    with atomic_write(path, mode) as f:
        f.write(payload)


def remove_stale_temporaries(folder):
    """Delete temporary files a killed process left in ``folder``; return their names.

    Only files named by :func:`atomic_write` are touched, so nothing a user
    put there is ever removed, and only those whose process has ended.
    """
    removed = []
    for temp in Path(folder).glob(f".*{TEMP_MARK}*"):
        if temp.is_file() and not _writer_alive(temp.name.rpartition(TEMP_MARK)[2]):
            temp.unlink()
            removed.append(temp.name)
    return removed


def _writer_alive(pid_text):
    """True when the process that named a temporary file is still running
    (another run writing into the same folder right now)."""
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
