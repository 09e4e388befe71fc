"""Shared fixtures: a configured app in a temporary folder, generated audio, real sshd."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from radiocast.app import App, open_app
from radiocast.audio.ffmpeg import find_ffmpeg

from . import pg
from .sshd import Sshd, keygen, station_dir

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).resolve().parents[1] / "audio_samples"


class Clock:
    """A settable clock for tests."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg.Cluster | None]:
    """The run's PostgreSQL cluster when the switch asks for it, else None."""
    if not pg.wanted():
        yield None
        return
    cluster = pg.Cluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(autouse=True)
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
             pg_cluster: pg.Cluster | None) -> str | None:
    """On a PostgreSQL run every test gets a database of its own, through the environment
    (so the daemon and CLI subprocesses it starts use it too). `sqlite_only` tests are about
    SQLite itself and run on the SQLite run only."""
    monkeypatch.delenv(pg.URL_ENV, raising=False)
    if pg_cluster is None:
        return None
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("about SQLite itself: runs on the SQLite run")
    url = pg_cluster.new_database()
    monkeypatch.setenv(pg.URL_ENV, url)
    return url


@pytest.fixture
def db_url(tmp_path: Path, database: str | None) -> str:
    """An empty database on the run's backend: a SQLite file, or this test's PostgreSQL one."""
    return database or f"sqlite:///{tmp_path / 'a.db'}"


def write_config(root: Path, extra: str = "", stations: str = "", settle: float = 0.3) -> Path:
    cfg = root / "radiocast.toml"
    cfg.write_text(f"""
[radiocast]
data_dir = "data"
[ingest]
drop_dir = "drop"
settle_seconds = {settle}
rescan_seconds = 1
{extra}
{stations}
""", encoding="utf-8")
    return cfg


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def factory(extra: str = "", stations: str = "", clock: Callable[[], datetime] | None = None,
                root: Path | None = None, settle: float = 0.3) -> App:
        base = root or tmp_path
        cfg = base / "radiocast.toml"
        if not cfg.exists():
            write_config(base, extra, stations, settle)
        app = open_app(cfg, "vi", clock=clock) if clock else open_app(cfg, "vi")
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.close()


@dataclass(frozen=True)
class Measured:
    integrated: float
    true_peak: float
    duration: float


def ebur128(path: Path) -> Measured:
    """ffmpeg's own meter: independent of radiocast's."""
    proc = subprocess.run([find_ffmpeg(), "-hide_banner", "-nostats", "-i", str(path), "-af",
                           "ebur128=peak=true", "-f", "null", "-"], capture_output=True,
                          text=True, check=True)
    summary = proc.stderr[proc.stderr.rindex("Summary:"):]
    i = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))  # type: ignore[union-attr]
    tp = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))  # type: ignore[union-attr]
    d = re.findall(r"time=(\d+):(\d+):([\d.]+)", proc.stderr)
    dur = re.search(r"Duration: (\d+):(\d+):([\d.]+)", proc.stderr)
    assert dur is not None
    h, m, s = dur.groups()
    del d
    return Measured(i, tp, int(h) * 3600 + int(m) * 60 + float(s))


def noisy_programme(path: Path, seconds: float) -> Path:
    """A tone that swells and pauses over pink noise, saved by staff at 128 kb/s stereo: at
    64 kb/s mono the encoder starves on its highs."""
    src = (f"sine=frequency=330:sample_rate=44100:duration={seconds},"
           "volume='0.6*(0.5+0.5*sin(2*PI*t/2.3))*gt(sin(2*PI*t/17),-0.8)':eval=frame")
    noise = f"anoisesrc=color=pink:sample_rate=44100:amplitude=0.05:duration={seconds}:seed=7"
    subprocess.run([find_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", src, "-f",
                    "lavfi", "-i", noise, "-filter_complex",
                    "[0][1]amix=inputs=2,aformat=channel_layouts=stereo", "-b:a", "128k",
                    str(path)], check=True)
    return path


def make_tone(path: Path, seconds: float = 20, lufs: float = -23.0, rate: int = 44100,
              channels: int = 1, kind: str = "speechlike", transient: bool = False,
              codec: str | None = None) -> Path:
    """Generated audio whose loudness is set with ffmpeg's loudnorm-free two-step: make it,
    measure it with ebur128, scale it by the difference."""
    ff = find_ffmpeg()
    if kind == "noise":
        # a fixed seed: the same noise every run, so a measurement either agrees or it does not
        src = (f"anoisesrc=color=pink:sample_rate={rate}:amplitude=0.3:duration={seconds}"
               ":seed=2026")
    elif kind == "tone":
        src = f"sine=frequency=997:sample_rate={rate}:duration={seconds}"
    else:  # a tone that comes and goes, with noise: gating has work to do
        src = (f"sine=frequency=440:sample_rate={rate}:duration={seconds},"
               "volume='0.5+0.4*sin(2*PI*t/3)':eval=frame")
    raw = path.with_suffix(".raw.wav")
    filt = f"aformat=channel_layouts={'mono' if channels == 1 else 'stereo'}"
    subprocess.run([ff, "-v", "error", "-y", "-f", "lavfi", "-i", src, "-af", filt,
                    "-c:a", "pcm_f32le", str(raw)], check=True)
    gain = lufs - ebur128(raw).integrated
    filters = [f"volume={gain:.2f}dB"]
    if transient:  # a 5 ms click 12 dB above the programme peak at 40 % of the length
        t0 = seconds * 0.4
        filters.append(f"volume=enable='between(t,{t0},{t0 + 0.005})':volume=4")
    out_args = ["-c:a", codec] if codec else (["-c:a", "pcm_f32le"] if path.suffix == ".wav"
                                              else [])
    subprocess.run([ff, "-v", "error", "-y", "-i", str(raw), "-af", ",".join(filters),
                    *out_args, str(path)], check=True)
    raw.unlink()
    return path


@pytest.fixture
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("clientkey")
    key = d / "id_ed25519"
    keygen(key)
    return key


@pytest.fixture
def sshd_factory(tmp_path: Path, client_key: Path) -> Iterator[Callable[..., Sshd]]:
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.fail("OpenSSH sshd is required (apt-get install openssh-server)")
    servers: list[Sshd] = []

    def factory(name: str = "st", extra: str = "") -> Sshd:
        srv = Sshd(tmp_path / f"sshd-{name}", Path(str(client_key) + ".pub"), extra)
        srv.start()
        servers.append(srv)
        return srv

    yield factory
    for srv in servers:
        srv.stop()


def station_toml(sid: str, srv: Sshd, remote: Path, key: Path, known_hosts: Path,
                 extra: str = "", port: int | None = None) -> str:
    return f"""
[[stations]]
id = "{sid}"
name = "Xã {sid}"
host = "127.0.0.1"
port = {port or srv.port}
user = "{srv.user}"
key_file = "{key}"
known_hosts = "{known_hosts}"
remote_dir = "{remote}"
{extra}
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@dataclass
class Site:
    app: App
    servers: list[Sshd]
    remotes: list[Path]
    known_hosts: Path


@pytest.fixture
def site(make_app: Callable[..., App], sshd_factory: Callable[..., Sshd], client_key: Path,
         tmp_path: Path) -> Callable[..., Site]:
    """An app with N real sshd stations; `ports` may route a station through a proxy."""

    def build(n: int = 1, extra: str = "", key: Path | None = None,
              ports: list[int | None] | None = None, station_extra: str = "",
              known_hosts_text: str | None = None,
              before: Callable[[list[Sshd]], None] | None = None) -> Site:
        servers = [sshd_factory(f"s{i}") for i in range(n)]
        if before:
            before(servers)
        kh = tmp_path / "known_hosts"
        kh.write_text(known_hosts_text if known_hosts_text is not None
                      else "".join(srv.known_hosts_line() for srv in servers))
        remotes = [station_dir(tmp_path / f"st{i}") for i in range(n)]
        toml = "".join(station_toml(f"st{i}", srv, remotes[i], key or client_key, kh,
                                    station_extra, (ports or [None] * n)[i])
                       for i, srv in enumerate(servers))
        return Site(make_app(extra=extra, stations=toml), servers, remotes, kh)

    return build


def ready_programme(app: App, path: Path, title: str = "Chuyển đổi số",
                    month: str | None = None, language: str = "vi") -> int:
    """A ready programme whose station file is `path` (delivery does not look inside it)."""
    from radiocast.core.fsutil import sha256_file
    from radiocast.core.models import Claim, Normalized
    from radiocast.core.months import local_month
    from radiocast.core.naming import slugify, title_key
    from radiocast.db import ops
    from radiocast.db.schema import Programme

    now = app.clock()
    month = month or local_month(now, app.settings.general.tz)
    sha = sha256_file(path)
    size = path.stat().st_size
    with app.db.write() as s:
        pid = ops.claim_programme(s, Claim(
            source_sha256=sha, source_name=path.name, source_size=size, drop_path=str(path),
            spool_path=str(path.with_name(path.name + ".original")), title=title,
            title_key=title_key(title), month=month, language=language, priority="normal",
            stations=None), now)
        p = s.get_one(Programme, pid)
        ops.start_normalizing(s, p, f"{month}-{slugify(title)}", now)
        ops.mark_ready(s, p, Normalized(20.0, -20.0, 5.0, -3.0, -16.0, -1.5, str(path), sha,
                                        size), now)
        ops.enqueue_deliveries(s, p, app.settings.stations_for(month, None, language), now)
        return pid
