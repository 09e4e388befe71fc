"""Putting a built site in place, whole or not at all. A local folder is exchanged with the
new one in one step (Linux `renameat2(RENAME_EXCHANGE)`; two renames where the file system
cannot). An SFTP destination gets the site under a temporary folder name, every file's size
checked, then the folders renamed (host key pinned, key login: radiocast's own SSH)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import paramiko

from radiocast.config.publish import PublishTarget
from radiocast.config.settings import Settings
from radiocast.core.errors import TransientDeliveryError
from radiocast.core.fsutil import fsync_dir
from radiocast.stations.ssh import load_key, ssh_login

AT_FDCWD = -100
RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    return bool(rc == 0)


def swap_local(built: Path, dest: Path) -> None:
    """`dest` becomes the built site; readers see the old site or the new, never a mix."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        os.rename(built, dest)
    elif _exchange(built, dest):
        shutil.rmtree(built)  # it now holds the old site
    else:
        old = dest.with_name(f".{dest.name}.old-{secrets.token_hex(4)}")
        os.rename(dest, old)
        os.rename(built, dest)
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(dest.parent)


@dataclass(frozen=True)
class _Dest:
    """The SFTP destination, as radiocast's SSH login wants a station."""

    id: str
    host: str
    port: int
    user: str
    known_hosts: Path


def upload_sftp(built: Path, target: PublishTarget, settings: Settings) -> None:
    assert target.key_file is not None and target.known_hosts is not None
    dest = _Dest(f"publish:{target.id}", target.host, target.port, target.user,
                 target.known_hosts)
    client = ssh_login(dest, settings.delivery, load_key(target.key_file))
    try:
        sftp = client.open_sftp()
        staging = f"{target.remote_dir}.new-{secrets.token_hex(4)}"
        try:
            _put_tree(sftp, built, staging)
            _replace(sftp, staging, target.remote_dir)
        except BaseException:
            with contextlib.suppress(OSError, paramiko.SSHException):
                _remove_tree(sftp, staging)
            raise
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise TransientDeliveryError(dest.id, f"publishing failed: {exc}") from exc
    finally:
        client.close()


def _put_tree(sftp: paramiko.SFTPClient, local: Path, remote: str) -> None:
    sftp.mkdir(remote, 0o755)
    for path in sorted(local.rglob("*")):
        rel = path.relative_to(local).as_posix()
        if path.is_dir():
            sftp.mkdir(f"{remote}/{rel}", 0o755)
        else:
            attrs = sftp.put(str(path), f"{remote}/{rel}", confirm=True)  # checks the size
            if attrs.st_size != path.stat().st_size:
                raise OSError(f"{rel}: {attrs.st_size} bytes arrived of {path.stat().st_size}")


def _replace(sftp: paramiko.SFTPClient, staging: str, remote: str) -> None:
    old = f"{remote}.old-{secrets.token_hex(4)}"
    try:
        sftp.stat(remote)
        had = True
    except FileNotFoundError:
        had = False
    if had:
        sftp.rename(remote, old)
    sftp.rename(staging, remote)
    if had:
        with contextlib.suppress(OSError):
            _remove_tree(sftp, old)


def _remove_tree(sftp: paramiko.SFTPClient, remote: str) -> None:
    for entry in sftp.listdir_attr(remote):
        path = f"{remote}/{entry.filename}"
        if stat.S_ISDIR(entry.st_mode or 0):
            _remove_tree(sftp, path)
        else:
            sftp.remove(path)
    sftp.rmdir(remote)
