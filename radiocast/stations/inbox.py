"""What belongs in a pull station's inbox at the hub, and removing the rest. The station's
account writes there without limit but for the file system's quota, on the disk the hub needs
for its database and the drop folder: status.json, the as-run segments and the temporary
names of their uploads may stay, each within its size, and nothing else."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import time
from pathlib import Path

from radiocast.core.fsutil import open_dir

INBOX = "inbox"
ASRUN = "asrun"  # in the inbox: the as-run segments

# what belongs in a station's inbox, and how big it may be; everything else is removed
STATUS_MAX = 256 << 10
SEGMENT_MAX = 16 << 20
SEGMENT_NAME = re.compile(r"^[0-9A-Za-z._-]{1,64}\.jsonl$")
INBOX_FILES = {"status.json": STATUS_MAX, ".status.json.tmp": STATUS_MAX, ".alive-a": 0,
               ".alive-b": 0}
SEGMENTS_MAX = 400  # over a year of daily segments
INBOX_BYTES_MAX = 64 << 20
TEMP_STALE_SECONDS = 600.0  # an upload's temporary file older than this was cut off
SWEEP_ENTRIES = 5000  # entries looked at per folder and sweep; the rest at the next


def sweep_inbox(root: Path, now: float | None = None) -> list[str]:
    """Remove from the inbox of the station folder `root` whatever does not belong there
    (another file, a folder, a link, a FIFO, a file over its size, a stale upload, segments
    past the count or byte cap, largest first), never following a link. Returns
    "path (bytes)" for each."""
    now = time.time() if now is None else now
    try:
        fd = open_dir(root, (INBOX,))
    except (FileNotFoundError, ValueError):
        return []
    try:
        removed = [_remove(fd, e, INBOX) for e in _entries(fd)
                   if not (e.name == ASRUN and e.is_dir(follow_symlinks=False))
                   and not _fits(e, INBOX_FILES.get(e.name), now)]
        try:
            afd = open_dir(root, (INBOX, ASRUN))
        except (FileNotFoundError, ValueError):
            return removed
        try:
            return removed + _sweep_segments(afd, now)
        finally:
            os.close(afd)
    finally:
        os.close(fd)


def _entries(fd: int) -> list[os.DirEntry[str]]:
    with os.scandir(fd) as it:
        return list(itertools.islice(it, SWEEP_ENTRIES))


def _fits(e: os.DirEntry[str], limit: int | None, now: float) -> bool:
    """A regular file no larger than `limit`; a temporary one (".…tmp") also recent."""
    if limit is None or not e.is_file(follow_symlinks=False):
        return False
    st = e.stat(follow_symlinks=False)
    stale = e.name.endswith(".tmp") and now - st.st_mtime > TEMP_STALE_SECONDS
    return st.st_size <= limit and not stale


def _sweep_segments(fd: int, now: float) -> list[str]:
    where = f"{INBOX}/{ASRUN}"
    removed, kept = [], []
    for e in _entries(fd):
        temp = e.name.startswith(".") and e.name.endswith(".tmp")
        if SEGMENT_NAME.match(e.name[1:-4] if temp else e.name) and _fits(e, SEGMENT_MAX, now):
            if not temp:
                kept.append((e.stat(follow_symlinks=False).st_size, e))
        else:
            removed.append(_remove(fd, e, where))
    kept.sort(key=lambda se: (se[0], se[1].name))
    total = sum(size for size, _ in kept)
    while kept and (len(kept) > SEGMENTS_MAX or total > INBOX_BYTES_MAX):
        size, e = kept.pop()
        total -= size
        removed.append(_remove(fd, e, where))
    return removed


def _remove(fd: int, e: os.DirEntry[str], where: str) -> str:
    """Remove one entry of the folder `fd` (a folder with what it holds, links not followed)."""
    try:
        size = e.stat(follow_symlinks=False).st_size
        if e.is_dir(follow_symlinks=False):
            shutil.rmtree(e.name, dir_fd=fd)
        else:
            os.unlink(e.name, dir_fd=fd)
    except OSError as exc:
        return f"{where}/{e.name} (could not remove: {exc.strerror or exc})"
    return f"{where}/{e.name} ({size} bytes)"
