"""Reading tar archives without trusting their member names.

A member is accepted only if it is a regular file or a directory whose name
is relative and has no ``..`` component. Absolute paths, ``..``, symbolic
and hard links, devices and FIFOs are rejected with a ValueError naming the
archive and the member.
"""

import gzip
import re
import tarfile
import zlib
from contextlib import contextmanager

__all__ = ["check_member", "iter_tar_files"]

DRIVE = re.compile(r"^[A-Za-z]:")  # a Windows drive letter makes a path absolute
DAMAGE = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def check_member(member, tar_path):
    """Return the member's name as clean path parts, or raise ValueError."""
    name = member.name
    where = f"{tar_path}: member {name!r}"
    if member.issym() or member.islnk():
        raise ValueError(f"{where} is a link (to {member.linkname!r}); links are not allowed")
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"{where} is not a regular file or directory")
    if name.startswith(("/", "\\")) or DRIVE.match(name):
        raise ValueError(f"{where} has an absolute path")
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"{where} has a '..' component")
    return parts


def iter_tar_files(tar_path):
    """Yield (path parts, bytes) for every regular file, checking every member.

    Reads the archive as a stream: nothing is written to disk.
    """
    with _open_archive(tar_path) as archive:
        with _damage_reported(tar_path):
            for member in archive:
                parts = check_member(member, tar_path)
                if member.isfile():
                    yield parts, archive.extractfile(member).read()


@contextmanager
def _damage_reported(tar_path):
    """Turn the many ways a damaged archive fails into one ValueError naming it."""
    try:
        yield
    except DAMAGE as error:
        # tarfile.open lists each compression it tried on a line of its own: keep one line
        reasons = [line.lstrip("- ") for line in str(error).splitlines()]
        reason = "; ".join(reasons[1:]) if len(reasons) > 1 else str(error)
        raise ValueError(f"{tar_path}: damaged or not a tar archive ({reason})") from error


@contextmanager
def _open_archive(tar_path):
    with _damage_reported(tar_path):
        archive = tarfile.open(tar_path, "r:*")
    with archive:
        yield archive
