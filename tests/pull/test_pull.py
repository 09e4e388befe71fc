"""Pull stations: the hub's own sshd serves each station a chrooted SFTP account; the agent
dials in, takes media and playbook, gives back status and proof of play. The hub never
connects to a pull station."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import paramiko
from click.testing import CliRunner
from sqlalchemy import func, select

from radiocast.agent.agent import Agent
from radiocast.agent.journal import Journal
from radiocast.agent.ledger import Ledger
from radiocast.agent.sync import PARTIAL, HubSync, SyncError
from radiocast.airing import agents
from radiocast.airing.planning import plan_all
from radiocast.airing.playbook import publish_playbook
from radiocast.cli.main import cli
from radiocast.core.models import AiringState, DeliveryState
from radiocast.core.months import local_month, next_month
from radiocast.daemon import Daemon
from radiocast.db.schema import AsRunEvent, Delivery, Event, Station
from radiocast.stations import deliver
from radiocast.stations.ssh import load_key, ssh_login

from ..agent.helpers import SLOTS, TZ, airings, play_through
from ..conftest import Clock, ready_programme
from ..netproxy import Proxy
from .helpers import ConnectAudit, PullWorld, needs_root, pull_world

pytestmark = needs_root
MANY = (f"[schedule]\nslots = {SLOTS}\nreplays_per_month = 27\nmin_gap_days = 0\n"
        "lead_minutes = 0\n")


def month_ahead() -> tuple[str, datetime]:
    month = next_month(local_month(datetime.now(TZ), TZ))
    return month, datetime.fromisoformat(f"{month}-01T00:05:00").replace(tzinfo=TZ)


def delivery_state(w: PullWorld, sid: str) -> str:
    with w.hub.db.read() as s:
        return s.scalars(select(Delivery.state).where(Delivery.station_id == sid)).one()


def publish(w: PullWorld, size: int, month: str) -> Path:
    f = w.tmp / f"prog-{size}.mp3"
    f.write_bytes(os.urandom(size))
    ready_programme(w.hub, f, month=month)
    outcome = deliver.deliver_due(w.hub)
    assert sum(o.delivered for o in outcome) == len(w.ids)
    return f


def test_files_playbook_and_asrun_flow_both_ways_and_the_hub_never_dials(
        tmp_path: Path) -> None:
    month, start = month_ahead()
    # a listener where the station would be if the hub dialled it: it must stay silent
    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen(8)
    trap.settimeout(0)
    audit = ConnectAudit.get()
    with pull_world(tmp_path, ["na-meo"], start, extra=MANY) as w:
        sid = "na-meo"
        audit.watching.set()  # ---- the hub's side: no outbound connection from here on
        prog = publish(w, 600_000, month)
        outbox = w.root / sid / "outbox"
        assert delivery_state(w, sid) == DeliveryState.PUBLISHED.value
        assert (outbox / f"{month}-chuyen-doi-so.mp3").read_bytes() == prog.read_bytes()
        assert (outbox / f"{month}-chuyen-doi-so.mp3.sha256").read_text().startswith(
            hashlib.sha256(prog.read_bytes()).hexdigest())
        audit.watching.clear()

        # ---- the station: enrol the hub's key by the CLI, then sync
        cfg = w.agent_config(sid)
        assert cfg.hub is not None
        cfg.hub.known_hosts.unlink()
        toml = tmp_path / "station.toml"
        toml.write_text(f"""[station]\nid = "{sid}"\nmedia_dir = "{cfg.media_dir}"
state_dir = "{cfg.state_dir}"\nplayer = "true {{file}}"
[hub]\nhost = "127.0.0.1"\nport = {w.sshd.port}\nuser = "{cfg.hub.user}"
key_file = "{cfg.hub.key_file}"\nknown_hosts = "{cfg.hub.known_hosts}"\n""")
        res = CliRunner().invoke(cli, ["station", "--config", str(toml), "enroll", "--yes"])
        assert res.exit_code == 0, res.output
        aclock = Clock(start)
        agent = Agent(cfg, clock=aclock)
        sync = HubSync(cfg, agent.news.set)
        sync.sync_once()
        assert (cfg.media_dir / f"{month}-chuyen-doi-so.mp3").read_bytes() == prog.read_bytes()
        agent.tick()  # status.json now lists the file it holds
        sync.sync_once()
        assert (w.root / sid / "inbox" / "status.json").exists()

        audit.watching.set()  # ---- the hub reads the inbox: delivered on the station's word
        got = agents.collect(w.hub, w.hub.settings.station(sid))
        assert delivery_state(w, sid) == DeliveryState.DELIVERED.value
        assert got.stored == 0
        plan_all(w.hub)
        assert publish_playbook(w.hub, sid)
        audit.watching.clear()

        sync.sync_once()
        agent.tick()
        assert agent.keeper.current.items, "the playbook reached the agent"
        until = start + timedelta(days=2)
        played = play_through(agent, aclock, until)
        assert played >= 4
        sync.sync_once()  # the as-run segments go up

        audit.watching.set()
        w.clock.now = until
        got = agents.collect(w.hub, w.hub.settings.station(sid))
        assert (got.stored, got.bad, got.acked) == (played, 0, played)
        aired = [a for a in airings(w.hub) if a.state == AiringState.AIRED.value]
        assert len(aired) == played
        audit.watching.clear()

        sync.sync_once()  # the ack comes down …
        assert (cfg.media_dir / "asrun.ack").read_text().strip() == str(played), \
            (sorted(p.name for p in (w.root / sid / "outbox").iterdir()), sync.stats)
        agent.tick()  # … the agent lets its segments go …
        assert agent.journal.backlog() == 0
        sync.sync_once()  # … and so does its inbox
        assert not list((w.root / sid / "inbox" / "asrun").glob("*.jsonl"))
        audit.watching.set()
        again = agents.collect(w.hub, w.hub.settings.station(sid))
        audit.watching.clear()
        assert again.stored == 0
        with w.hub.db.read() as s:
            assert s.scalar(select(func.count()).select_from(AsRunEvent)) == played
        sync.close()
        agent.close()
    assert audit.seen == [], f"the hub connected out: {audit.seen}"
    try:
        trap.accept()
        raise AssertionError("something dialled the station")
    except BlockingIOError:
        pass
    trap.close()


def test_a_cut_at_half_resumes_and_a_foreign_part_is_never_resumed(tmp_path: Path) -> None:
    month, start = month_ahead()
    size = 8 << 20
    with pull_world(tmp_path, ["pu-nhi"], start) as w:
        prog = publish(w, size, month)
        name = f"{month}-chuyen-doi-so.mp3"
        proxy = Proxy(w.sshd.port)
        cfg = w.agent_config("pu-nhi", port=proxy.port)
        # a .part of another content under the same programme name: never continued
        partial = cfg.media_dir / PARTIAL
        partial.mkdir()
        foreign = partial / f"{name}.{'0' * 16}.part"
        foreign.write_bytes(os.urandom(size // 2))
        sync = HubSync(cfg)
        proxy.cut_down_after = size // 2
        try:
            sync.sync_once()
            raise AssertionError("the link was cut; the sync must fail")
        except SyncError:
            sync.close()
        got_first = sync.stats.downloaded
        assert size // 4 < got_first < size, got_first
        before = proxy.downstream_bytes
        sync.sync_once()
        wire = proxy.downstream_bytes - before
        assert (cfg.media_dir / name).read_bytes() == prog.read_bytes()
        resent = sync.stats.downloaded - size
        print(f"\ncut at {got_first} of {size} bytes; resent {resent} bytes; second "
              f"connection carried {wire} bytes down for {size - got_first} left")
        assert 0 <= resent <= (1 << 20) + size // 10
        assert wire <= size - got_first + (1 << 20) + size // 10
        assert not foreign.exists(), "the foreign .part was removed, not resumed"
        # a .part with the right name but damaged bytes: caught by sha256, fetched anew
        (cfg.media_dir / name).unlink()
        sync.mark = None
        part = partial / f"{name}.{hashlib.sha256(prog.read_bytes()).hexdigest()[:16]}.part"
        part.write_bytes(b"\0" * (size // 2))
        try:
            sync.sync_once()
            raise AssertionError("a damaged .part must not become the programme")
        except SyncError as exc:
            assert "sha256" in str(exc)
        assert not (cfg.media_dir / name).exists() and not part.exists()
        sync.close()
        sync.mark = None
        sync.sync_once()
        assert (cfg.media_dir / name).read_bytes() == prog.read_bytes()
        sync.close()
        proxy.close()


def _sftp_as(w: PullWorld, sid: str) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
    cfg = w.agent_config(sid)
    assert cfg.hub is not None
    client = ssh_login(cfg.hub, cfg.hub, load_key(cfg.hub.key_file))
    return client, client.open_sftp()


def _refused(action: Callable[[], object]) -> bool:
    try:
        action()
    except (OSError, paramiko.SSHException):
        return True
    return False


def test_a_station_account_is_confined(tmp_path: Path) -> None:
    month, start = month_ahead()
    with pull_world(tmp_path, ["na-meo", "pu-nhi"], start) as w:
        publish(w, 50_000, month)
        name = f"{month}-chuyen-doi-so.mp3"
        other = w.root / "pu-nhi" / "outbox" / name
        assert other.exists()
        secrets = [other, w.hub.settings.spool_dir, w.hub.settings.general.data_dir /
                   "radiocast.db", w.keys["na-meo"], w.keys["pu-nhi"], w.sshd.host_key,
                   Path("/etc/shadow"), Path("/etc/passwd")]
        client, sftp = _sftp_as(w, "na-meo")
        assert sorted(sftp.listdir("/")) == ["inbox", "outbox"]
        assert sftp.stat(f"/outbox/{name}").st_size == 50_000  # its own: readable
        # nothing outside its own folder can be read, or even seen
        for path in secrets:
            assert _refused(lambda p=path: sftp.open(str(p)).read(1)), path
            assert _refused(lambda p=path: sftp.stat(str(p))), path
        for path in ("../pu-nhi/outbox/" + name, "/../pu-nhi/outbox/" + name,
                     "/outbox/../../pu-nhi/outbox/" + name):
            assert _refused(lambda p=path: sftp.open(p).read(1)), path
        # nothing can be written outside its inbox
        for path in ("/x", "/outbox/x", f"/outbox/{name}", "/outbox/playbook.json"):
            assert _refused(lambda p=path: sftp.open(p, "wb").write(b"x")), path
        assert _refused(lambda: sftp.mkdir("/outbox/evil"))
        assert _refused(lambda: sftp.remove(f"/outbox/{name}"))
        assert _refused(lambda: sftp.rename(f"/outbox/{name}", "/inbox/stolen.mp3"))
        assert _refused(lambda: sftp.chmod("/outbox", 0o777))
        assert _refused(lambda: sftp.symlink("/outbox", "/evil"))
        with sftp.open("/inbox/asrun/ok.jsonl", "wb") as fh:  # its inbox: writable
            fh.write(b"\n")
        # no shell, no command, no forwarding
        _in, out, _err = client.exec_command("id; echo SHELL-OK", timeout=10)
        try:
            text = out.read(4096)
        except OSError:
            text = b""
        assert b"uid=" not in text and b"SHELL-OK" not in text
        assert _refused(lambda: client.invoke_shell().recv(100) or
                        (_ for _ in ()).throw(OSError("no shell")))
        transport = client.get_transport()
        assert transport is not None
        assert _refused(lambda: transport.open_channel(
            "direct-tcpip", ("127.0.0.1", w.sshd.port), ("127.0.0.1", 1)))
        # a link it plants in its inbox is never followed by the hub
        target = w.hub.settings.general.data_dir / "radiocast.db"  # SQLite's, when it is SQLite
        existed = target.exists()
        sftp.symlink(str(target), "/inbox/status.json")
        client.close()
        got = agents.collect(w.hub, w.hub.settings.station("na-meo"))
        assert got.stored == 0
        planted = w.root / "na-meo" / "inbox" / "status.json"
        assert not planted.is_symlink() and not planted.exists()  # removed, never followed
        assert target.exists() == existed and (not existed or target.stat().st_size > 0)
        with w.hub.db.read() as s:
            st = s.get_one(Station, "na-meo")
            assert st.heartbeat_at is None
            swept = s.scalars(select(Event.detail).where(
                Event.action == "inbox_swept", Event.entity_id == "na-meo")).all()
            assert any("inbox/status.json" in (d or "") for d in swept)


def test_the_hub_daemon_reads_an_inbox_as_soon_as_the_agent_writes(tmp_path: Path) -> None:
    """The whole daemon and a real agent process: the delivery is confirmed and the playbook
    goes out within seconds of the agent's upload (inotify; the timer is 300 s), and the
    hub's process opens no connection at all."""
    month, start = month_ahead()
    audit = ConnectAudit.get()
    with pull_world(tmp_path, ["na-meo"], start, extra=MANY) as w:
        w.clock.now = datetime.now(TZ)  # the daemon runs on the real clock
        f = tmp_path / "p.mp3"
        f.write_bytes(os.urandom(300_000))
        ready_programme(w.hub, f, month=month)
        cfg = w.agent_config("na-meo")
        assert cfg.hub is not None
        toml = tmp_path / "station.toml"
        toml.write_text(f"""[station]\nid = "na-meo"\nmedia_dir = "{cfg.media_dir}"
state_dir = "{cfg.state_dir}"\nplayer = "true {{file}}"\nheartbeat_seconds = 5
[hub]\nhost = "127.0.0.1"\nport = {w.sshd.port}\nuser = "{cfg.hub.user}"
key_file = "{cfg.hub.key_file}"\nknown_hosts = "{cfg.hub.known_hosts}"\npoll_seconds = 5
""")
        daemon = Daemon(w.hub)
        audit.watching.set()
        loop = threading.Thread(target=daemon.loop, daemon=True)
        loop.start()
        agent = subprocess.Popen([sys.executable, "-m", "radiocast", "station", "--config",
                                  str(toml), "run"], stderr=subprocess.PIPE)
        began = time.monotonic()
        try:
            while time.monotonic() - began < 60:
                if (cfg.media_dir / "playbook.json").exists() and \
                        delivery_state(w, "na-meo") == DeliveryState.DELIVERED.value and \
                        b'"airing_id"' in (cfg.media_dir / "playbook.json").read_bytes():
                    break
                time.sleep(0.2)
            took = time.monotonic() - began
        finally:
            agent.terminate()
            _out, err = agent.communicate(timeout=30)
            daemon.stop.set()
            loop.join(timeout=30)
            daemon.shutdown()
            audit.watching.clear()
        print(f"\nagent started → file held, delivery confirmed, playbook at the station: "
              f"{took:.1f} s")
        assert delivery_state(w, "na-meo") == DeliveryState.DELIVERED.value, err[-2000:]
        assert took < 30, "confirmed by inotify, not by the 300 s timer"
        assert agent.returncode == 0, err[-2000:]
    assert audit.seen == [], f"the hub connected out: {audit.seen}"


def test_max_kbps_limits_the_download(tmp_path: Path) -> None:
    month, start = month_ahead()
    with pull_world(tmp_path, ["na-meo"], start) as w:
        prog = publish(w, 400_000, month)
        cfg = w.agent_config("na-meo", max_kbps=800)  # 100 kB/s
        sync = HubSync(cfg)
        began = time.monotonic()
        sync.sync_once()
        took = time.monotonic() - began
        sync.close()
        assert (cfg.media_dir / prog.name.replace("prog-400000", f"{month}-chuyen-doi-so")
                ).read_bytes() == prog.read_bytes()
        assert took >= 3.5, f"400 kB at 100 kB/s took {took:.1f} s"


def test_a_segment_is_sent_by_its_content_and_a_name_is_never_used_twice(
        tmp_path: Path) -> None:
    """A segment rebuilt at the same length reaches the hub; after the hub acknowledges a day's
    segment and the agent lets it go, the same day's next event starts a segment of another
    name (neither side can take it for the old one by name and size)."""
    _, start = month_ahead()
    with pull_world(tmp_path, ["na-meo"], start) as w:
        cfg = w.agent_config("na-meo")
        sync = HubSync(cfg)
        seg = cfg.media_dir / "asrun" / "2026-12-01.00000001.jsonl"
        seg.parent.mkdir(parents=True, exist_ok=True)
        seg.write_text('{"seq":1,"a":"x"}\n')
        sync.sync_once()
        there = w.root / "na-meo" / "inbox" / "asrun" / seg.name
        assert there.read_text() == seg.read_text()
        seg.write_text('{"seq":1,"a":"y"}\n')  # same name, same length, other content
        sync.sync_once()
        assert there.read_text() == '{"seq":1,"a":"y"}\n'
        sync.close()
    ledger = Ledger(tmp_path / "state")
    journal = Journal(tmp_path / "media", ledger)
    first = journal.segment_for("2026-12-01")
    journal.append({"event_id": "e1", "airing_id": 1}, day="2026-12-01")
    (tmp_path / "media" / "asrun.ack").write_text("1\n")
    journal.take_ack(tmp_path / "media")  # acknowledged: the segment goes
    assert not first.exists()
    journal.append({"event_id": "e2", "airing_id": 2}, day="2026-12-01")
    [second] = sorted((tmp_path / "media" / "asrun").glob("*.jsonl"))
    assert second.name != first.name and second.name.startswith("2026-12-01.")
    ledger.close()
