"""`init` (a starter configuration and folders) and `check` (is everything in place?)."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

from sqlalchemy import select

from radiocast.alerting.send import scheme
from radiocast.app import App
from radiocast.audio.ffmpeg import find_ffmpeg
from radiocast.core.errors import DeliveryError, UsageError
from radiocast.core.i18n import t
from radiocast.core.models import ProgrammeState
from radiocast.core.months import local_month
from radiocast.db.schema import Programme
from radiocast.stations.outbox import OutboxLink
from radiocast.stations.transport import probe_station

log = logging.getLogger(__name__)

# not-ui: the starter configuration file (its comments are the file's own)
STARTER = """\
# radiocast configuration. Every key is described in docs/configuration.md.
[radiocast]
timezone = "Asia/Ho_Chi_Minh"
language = "vi"
sender = "Trung tâm Văn hóa, Thông tin, Thể thao và Du lịch huyện Quan Sơn"
data_dir = "data"

[ingest]
drop_dir = "drop"
settle_seconds = 5
polling = false

[audio]
target_lufs = -16.0
true_peak_dbtp = -1.5

[schedule]
slots = ["06:00-06:45", "17:30-18:15"]
replays_per_month = 3
min_gap_days = 3
lead_minutes = 60

[delivery]
max_parallel = 8

# One [[stations]] table per commune station. Record each station's host key with
# `radiocast stations enroll ID` before the first delivery.
[[stations]]
id = "trung-ha"
name = "Xã Trung Hạ"
host = "trung-ha.quanson.invalid"
port = 22
user = "radiocast"
key_file = "keys/id_ed25519"
known_hosts = "keys/known_hosts"
remote_dir = "/srv/radio/radiocast"
playout = "ssh-command"
play_command = "mpg123 -q {file}"
"""


def init_directory(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    cfg = directory / "radiocast.toml"
    if cfg.exists():
        raise UsageError(t("cli.init_exists", "vi", path=cfg))
    for sub in ("data", "drop", "keys"):
        (directory / sub).mkdir(exist_ok=True)
    (directory / "keys" / "known_hosts").touch(mode=0o600, exist_ok=True)
    cfg.write_text(STARTER, encoding="utf-8")
    return cfg


def _writable(path: Path) -> str | None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".radiocast-check-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def run_checks(app: App, stations: bool = True) -> list[tuple[bool, str]]:
    lang = app.lang
    st = app.settings
    out: list[tuple[bool, str]] = [(True, t("cli.config_ok", lang, path=st.path))]
    out.append((True, t("cli.db_ok", lang, rev=app.db.current_revision())))
    try:
        out.append((True, t("cli.ffmpeg_ok", lang, path=find_ffmpeg())))
    except Exception:
        out.append((False, t("cli.ffmpeg_missing", lang)))
    folders = [st.general.data_dir, st.spool_dir, st.ingest.drop_dir, st.ingest.archive_dir,
               st.ingest.quarantine_dir]
    for folder in folders:
        err = _writable(folder)
        out.append((err is None, t("cli.dir_ok", lang, path=folder) if err is None
                    else t("cli.dir_bad", lang, path=folder, err=err)))
    if stations and st.stations:
        for station in st.stations:
            try:
                if station.pull:  # its folders at the hub; it dials in itself
                    with OutboxLink.of(st, station):
                        pass
                else:
                    probe_station(station, st.delivery)
                out.append((True, t("cli.station_ok", lang, id=station.id, dir=station.remote_dir)))
            except DeliveryError as exc:
                out.append((False, t("cli.station_bad", lang, id=station.id, err=exc.detail)))
    return out + _media_check(app) + _alert_checks(app)


def _media_check(app: App) -> list[tuple[bool, str]]:
    """The normalized files of this month's and later programmes are here: what a hub sends
    (a standby whose `data_dir` is not the shared one would find none)."""
    month = local_month(app.clock(), app.settings.general.tz)
    with app.db.read() as s:
        paths = list(s.scalars(select(Programme.output_path).where(
            Programme.state == ProgrammeState.READY.value, Programme.month >= month)))
    missing = [p for p in paths if not p or not Path(p).exists()]
    if missing:
        return [(False, t("cli.media_missing", app.lang, n=len(missing), path=missing[0]))]
    return [(True, t("cli.media_ok", app.lang, n=len(paths)))] if paths else []


def _alert_checks(app: App) -> list[tuple[bool, str]]:
    """Each [[alerts]] URL is one apprise can use (nothing is sent: `alerts test` sends), and
    a configuration holding such secrets is not readable by everyone."""
    import apprise

    lang, st = app.lang, app.settings
    out = []
    for ch in st.alerts:
        ok = bool(apprise.Apprise().add(ch.url))
        out.append((ok, t("cli.alert_url_ok" if ok else "cli.alert_url_bad", lang,
                          channel=ch.name, scheme=scheme(ch.url))))
    if st.alerts and st.path is not None and st.path.exists() \
            and st.path.stat().st_mode & stat.S_IROTH:
        out.append((False, t("cli.config_readable", lang, path=st.path)))
    return out


def ensure_folders(app: App) -> list[str]:
    """Create radiocast's folders. One that cannot be made is reported (and shown by `check`)
    instead of stopping the daemon: the rest of the work can go on."""
    st = app.settings
    problems = []
    for folder in (st.general.data_dir, st.spool_dir, st.ingest.drop_dir,
                   st.ingest.archive_dir, st.ingest.quarantine_dir):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problems.append(f"{folder}: {exc.strerror or exc}")
            log.error("cannot create %s: %s", folder, exc)
    with contextlib.suppress(OSError):
        os.chmod(st.general.data_dir, 0o750)
    return problems
