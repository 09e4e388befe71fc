"""Crash-safe file operations: temp file in the target folder, fsync, rename, fsync the folder."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from radiocast.core.naming import is_clutter

CHUNK = 1 << 20
NAME_MAX = 255  # bytes in one file name, on every file system radiocast writes to
NOTE_SUFFIX = ".txt"
COPY_ROOM = len(" (999)")  # unique_path may add this much


def temp_name(final: str, suffix: str = ".tmp") -> str:
    """A short hidden temporary name for `final`, in the same folder: `.rc-<hash12><suffix>`.
    Never longer than any final name, whatever the length of `final`."""
    return f".rc-{hashlib.sha256(final.encode('utf-8', 'surrogateescape')).hexdigest()[:12]}" \
        f"{suffix}"


def fit_name(name: str, reserve: int = 0) -> str:
    """`name`, its stem shortened (at a character boundary) so that it and `reserve` more bytes
    fit in NAME_MAX bytes; the extension is kept."""
    limit = NAME_MAX - reserve
    if len(name.encode("utf-8", "surrogateescape")) <= limit:
        return name
    suffix = Path(name).suffix if len(Path(name).suffix) < 16 else ""
    stem = name[: len(name) - len(suffix)]
    budget = limit - len(f"…{suffix}".encode("utf-8", "surrogateescape"))
    while len(stem.encode("utf-8", "surrogateescape")) > budget:
        stem = stem[:-1]
    return f"{stem}…{suffix}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def note_bytes(text: str) -> bytes:
    """A note for the people at the drop folder: UTF-8 with a byte-order mark and CRLF line
    ends, so Notepad on an older Windows office PC shows Vietnamese and line breaks."""
    return ("\ufeff" + text.replace("\r\n", "\n").replace("\n", "\r\n")).encode("utf-8")


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write by temporary name, fsync, rename; `mode` sets the permissions whatever the
    umask (a file another account must read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(temp_name(path.name))
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        if mode is not None:
            os.fchmod(fh.fileno(), mode)
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class NotRegularFile(OSError):
    """A symlink, FIFO, device, socket or folder where a plain file was expected."""


def hash_regular(path: Path) -> tuple[str, int]:
    """(sha256, size) of the regular file at `path`, never following a symlink and never
    blocking on a FIFO or device: it is opened with O_NOFOLLOW | O_NONBLOCK and checked with
    fstat before a byte is read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFile(errno.ELOOP, "a symbolic link", str(path)) from exc
        raise
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))
        h = hashlib.sha256()
        while block := fh.read(CHUNK):
            h.update(block)
        return h.hexdigest(), st.st_size


def is_regular(path: Path) -> bool:
    """A plain file, not a link to one."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


class HashCache:
    """sha256 of the files in one folder, hashed again only when a file's size or mtime
    changes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.known: dict[str, tuple[int, int, str]] = {}

    def get(self, name: str) -> str | None:
        """The file's sha256, or None when it is not there."""
        try:
            st = (self.folder / name).stat()
        except OSError:
            return None
        hit = self.known.get(name)
        if hit is None or hit[:2] != (st.st_size, st.st_mtime_ns):
            hit = (st.st_size, st.st_mtime_ns, sha256_file(self.folder / name))
            self.known[name] = hit
        return hit[2]


def unique_path(path: Path) -> Path:
    """`path`, or `name (2).ext`, `name (3).ext`… — never overwrite a file."""
    if not os.path.lexists(path):
        return path
    n = 2
    while True:
        cand = path.with_name(f"{path.stem} ({n}){path.suffix}")
        if not os.path.lexists(cand):
            return cand
        n += 1


def move_file(src: Path, dst: Path) -> None:
    """Move atomically where possible; across file systems copy + fsync + rename, then unlink."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # another file system
            raise
        tmp = dst.with_name(temp_name(dst.name, ".part"))
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
        os.unlink(src)
    with contextlib.suppress(OSError):
        fsync_dir(dst.parent)


def is_wanted(path: Path, root: Path, excluded: list[Path]) -> bool:
    """Is `path` something staff may have dropped under `root`: not clutter (hidden, Office
    lock files, partial downloads), not under the `excluded` (resolved) folders."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    if any(is_clutter(part) for part in rel.parts):
        return False
    resolved = path.resolve()
    return not any(resolved == ex or ex in resolved.parents for ex in excluded)


def walk_files(root: Path, excluded: list[Path]) -> Iterator[Path]:
    """Every wanted file under `root` (see `is_wanted`)."""
    resolved_ex = [p.resolve() for p in excluded]
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = [n for n in dirnames if is_wanted(d / n, root, resolved_ex)]
        for name in filenames:
            p = d / name
            if is_wanted(p, root, resolved_ex):
                yield p


def file_away(src: Path, folder: Path, name: str, note: str, sidecar: Path | None = None,
              sidecar_name: str | None = None) -> Path:
    """Move a processed original into `folder` under `name` (never overwriting), its note
    beside it as `<name>.txt`, and its sidecar with it. The note is written first: a crash
    leaves the original where recovery finds it again."""
    dst = unique_path(folder / fit_name(name, len(NOTE_SUFFIX) + COPY_ROOM))
    atomic_write(dst.with_name(dst.name + NOTE_SUFFIX), note_bytes(note))
    if sidecar is not None and sidecar.exists():
        side = sidecar_name or Path(name).stem + ".toml"
        move_file(sidecar, unique_path(folder / fit_name(side, COPY_ROOM)))
    move_file(src, dst)
    return dst


DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_dir(base: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of `base`/`parts`, each folder opened relative to the one before and
    never through a link (a station may replace any folder it owns with one). Raises
    FileNotFoundError when a folder is not there, ValueError when one is a link or a file."""
    fd = os.open(base, DIR_FLAGS)
    try:
        for part in parts:
            try:
                nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise ValueError(f"{part} is a link or not a folder; ignored") from None
                raise
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


# inotify events (watchdog's names) that mean a folder's content changed; opens and closes
# without a write are reads, and a watcher woken by its own reads never rests
FILE_CHANGES = frozenset({"created", "modified", "moved", "closed", "deleted"})
