"""`radiocast stations provision ID`: a pull station's place at the hub.

Creates its folders (root-owned chroot, outbox the hub writes and the station reads, inbox
the station writes and the hub reads) and prints the `sshd_config` block and the
`authorized_keys` line. System files (account, key file, sshd block) are written only with
`apply=True`, as root: the old block is kept as a backup, `sshd -t` must accept the result
(else the old one is put back), `sshd -T -C user=…` must show the chroot in force, and only
then is sshd reloaded.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from radiocast.config.settings import Settings, StationSettings
from radiocast.core.errors import UsageError
from radiocast.core.fsutil import atomic_write
from radiocast.stations.inbox import INBOX
from radiocast.stations.outbox import OUTBOX, account_name, station_root

PUBKEY_RE = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]{40,1000}$")
SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./-]+$")
ASRUN = "asrun"
QUOTA_MIB = 256  # a station's share of the hub's disk; its status and as-run need a few MiB
QUOTA_FILES = 2000


@dataclass(frozen=True)
class Provision:
    station_id: str
    account: str
    root: Path
    sshd_file: Path
    keys_file: Path
    sshd_block: str
    authorized_line: str


def plan(settings: Settings, st: StationSettings, pubkey: str | None) -> Provision:
    if not st.pull:
        raise UsageError(f'station {st.id} is not a pull station (set transfer = "pull")')
    root = station_root(settings, st.id)
    if not SAFE_PATH.match(str(root)) or "/../" in f"{root}/":
        raise UsageError(f"pull.root {root} must be an absolute path of plain characters")
    account = account_name(settings.pull.user_prefix, st.id)
    keys_file = settings.pull.keys_dir / account
    key = (pubkey or "").strip()
    if key:
        key = " ".join(key.split()[:2])
        if not PUBKEY_RE.match(key):
            raise UsageError("the station's public key is not an OpenSSH public key line")
    line = (f'restrict,command="internal-sftp" {key or "<the station key: ssh-ed25519 AAAA…>"}'
            f" radiocast-station-{st.id}")
    block = "\n".join([
        f"# radiocast pull station {st.id} (written by `radiocast stations provision`)",
        f"Match User {account}",
        f"    ChrootDirectory {root}",
        "    ForceCommand internal-sftp -u 0022",
        f"    AuthorizedKeysFile {keys_file}",
        "    AuthenticationMethods publickey",
        "    PasswordAuthentication no",
        "    KbdInteractiveAuthentication no",
        "    AllowTcpForwarding no",
        "    AllowStreamLocalForwarding no",
        "    AllowAgentForwarding no",
        "    PermitTunnel no",
        "    PermitTTY no",
        "    X11Forwarding no",
        "    PermitUserRC no",
        "",
    ])
    return Provision(st.id, account, root,
                     settings.pull.sshd_config_dir / f"radiocast-pull-{st.id}.conf",
                     keys_file, block, line)


def make_folders(settings: Settings, p: Provision) -> list[str]:
    """Create the station's folders; as root, with the owners the chroot needs. Returns
    warnings (e.g. not root: the folders exist, but sshd would refuse the chroot)."""
    root_ = os.geteuid() == 0
    outbox, inbox = p.root / OUTBOX, p.root / INBOX
    for d in (p.root, outbox, inbox, inbox / ASRUN):
        d.mkdir(parents=True, exist_ok=True)
    if not root_:
        for d in (p.root, outbox, inbox, inbox / ASRUN):
            d.chmod(0o755)
        return ["not root: folders made without their owners; run again as root"]
    hub = settings.general.data_dir.stat() if settings.general.data_dir.exists() else None
    hub_uid, hub_gid = (hub.st_uid, hub.st_gid) if hub else (0, 0)
    try:
        pw = pwd.getpwnam(p.account)
    except KeyError:
        return [f"account {p.account} does not exist yet (use --apply): inbox left to root"]
    # chroot: the root and every folder above it owned by root, writable by nobody else
    for d in (p.root, settings.pull.root):  # radiocast's own: made so
        os.chown(d, 0, 0)
        d.chmod(0o755)
    for d in settings.pull.root.parents:
        st = d.stat()
        if st.st_uid != 0 or st.st_mode & 0o022:
            return [f"{d} must belong to root and be writable only by root (sshd refuses "
                    "a chroot below it)"]
    os.chown(outbox, hub_uid, pw.pw_gid)  # the hub writes; only this station reads
    outbox.chmod(0o750)
    for d in (inbox, inbox / ASRUN):  # the station writes; the hub reads, and removes junk
        os.chown(d, pw.pw_uid, hub_gid)
        d.chmod(0o770)
    return []


def apply(settings: Settings, plans: list[Provision]) -> list[str]:
    """As root: the accounts, the key files, the sshd blocks (checked together, then sshd is
    reloaded once)."""
    if os.geteuid() != 0:
        raise UsageError("--apply writes system files: run it as root")
    if any("<" in p.authorized_line for p in plans):
        raise UsageError("--apply needs the station's public key (--key FILE)")
    done = []
    settings.pull.keys_dir.mkdir(parents=True, exist_ok=True)
    for p in plans:
        if not _exists(p.account):
            _run(["useradd", "--system", "--no-create-home", "--home-dir", "/",
                  "--shell", shutil.which("nologin") or "/usr/sbin/nologin", "--user-group",
                  p.account])
            _run(["usermod", "-p", "*", p.account])  # no password, yet not "locked" for sshd
            done.append(f"account {p.account} created")
        atomic_write(p.keys_file, (p.authorized_line + "\n").encode(), mode=0o644)
        done += make_folders(settings, p)
        done.append(set_quota(p))
    _install_blocks(settings, plans)
    done.append(f"sshd block(s) written to {settings.pull.sshd_config_dir}, checked with "
                "sshd -t, sshd reloaded")
    return done


def _install_blocks(settings: Settings, plans: list[Provision]) -> None:
    sshd = shlex.split(settings.pull.sshd)
    settings.pull.sshd_config_dir.mkdir(parents=True, exist_ok=True)
    backups: dict[Path, Path | None] = {}
    stamp = f"{datetime.now():%Y%m%d%H%M%S}"
    for p in plans:
        backups[p.sshd_file] = None
        if p.sshd_file.exists():
            backup = p.sshd_file.with_name(f".{p.sshd_file.name}.bak-{stamp}")
            shutil.copy2(p.sshd_file, backup)
            backups[p.sshd_file] = backup
        atomic_write(p.sshd_file, p.sshd_block.encode(), mode=0o644)
    try:
        _run([*sshd, "-t"])
        for p in plans[:1] + plans[-1:]:
            shown = _run([*sshd, "-T", "-C", f"user={p.account},host=station.invalid,"
                          "addr=127.0.0.1"])
            if f"chrootdirectory {p.root}".lower() not in shown.lower():
                raise UsageError(f"sshd does not read {p.sshd_file} (is there an `Include "
                                 f"{settings.pull.sshd_config_dir}/*.conf` in sshd_config?)")
    except UsageError:
        for path, kept in backups.items():  # put back what was there
            if kept is not None:
                os.replace(kept, path)
            else:
                path.unlink()
        raise
    _run(shlex.split(settings.pull.reload_command))


def set_quota(p: Provision) -> str:
    """Cap what the station's account may write on the hub's disk, where the file system keeps
    user quotas (mounted with `usrquota`); otherwise say why not (the hub still removes what
    does not belong in an inbox, and shows a low disk as a problem)."""
    setquota = shutil.which("setquota")
    if setquota is None:
        return (f"no disk quota for {p.account}: setquota is missing (apt-get install quota; "
                "operations.md, 'A station's share of the disk')")
    try:
        mount = _run(["findmnt", "-n", "-o", "TARGET", "--target", str(p.root)]).strip()
        _run([setquota, "-u", p.account, "0", str(QUOTA_MIB * 1024), "0", str(QUOTA_FILES),
              mount])
    except UsageError as exc:
        return (f"no disk quota for {p.account}: {exc} (the file system needs user quotas: "
                "operations.md, 'A station's share of the disk')")
    return f"disk quota for {p.account}: {QUOTA_MIB} MiB and {QUOTA_FILES} files on {mount}"


def _exists(account: str) -> bool:
    try:
        pwd.getpwnam(account)
    except KeyError:
        return False
    return True


def _run(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"{argv[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise UsageError(f"{shlex.join(argv)} failed: {(proc.stderr or proc.stdout)[-500:]}")
    return proc.stdout
