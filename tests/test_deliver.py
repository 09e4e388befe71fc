"""Delivery against real OpenSSH sshd stations on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from radiocast.app import open_app
from radiocast.core.models import DeliveryState
from radiocast.db.schema import Delivery, Station
from radiocast.stations import deliver
from radiocast.stations.transport import WRITE_BLOCK, StationLink

from .conftest import Site, ready_programme
from .netproxy import Proxy
from .sshd import keygen


def through_proxy(s: Site, proxy: Proxy, extra: str = "") -> Path:
    """Route station 0 through `proxy` (its port, and the known_hosts entry for that port)."""
    cfg = s.app.settings.path
    assert cfg is not None
    port = s.servers[0].port
    cfg.write_text(cfg.read_text().replace(f"port = {port}", f"port = {proxy.port}")
                   .replace("[ingest]", f"{extra}\n[ingest]"))
    s.known_hosts.write_text(s.servers[0].known_hosts_line().replace(f":{port} ",
                                                                     f":{proxy.port} "))
    return cfg


def payload(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def deliveries(site: Site) -> list[Delivery]:
    with site.app.db.read() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.station_id)))


def remote_names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_delivers_to_several_stations_atomically_with_checksums(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(3)
    f = payload(tmp_path / "p.mp3", 3_000_000)
    ready_programme(s.app, f)
    outcomes = deliver.deliver_due(s.app)
    assert sorted(o.delivered for o in outcomes) == [1, 1, 1]
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    for remote in s.remotes:
        names = remote_names(remote)
        mp3 = [n for n in names if n.endswith(".mp3")]
        assert len(mp3) == 1 and not [n for n in names if n.startswith(".")]
        assert hashlib.sha256((remote / mp3[0]).read_bytes()).hexdigest() == digest
        assert (remote / f"{mp3[0]}.sha256").read_text() == f"{digest}  {mp3[0]}\n"
    assert {d.state for d in deliveries(s)} == {DeliveryState.DELIVERED.value}
    with s.app.db.read() as sess:
        assert all(st.last_contact_at is not None and st.consecutive_failures == 0
                   for st in sess.scalars(select(Station)))
        assert all(st.free_bytes and st.free_bytes > 0 for st in sess.scalars(select(Station)))


@pytest.mark.parametrize("trust", ["unknown", "changed"])
def test_unknown_or_changed_host_key_is_refused_and_nothing_uploaded(
        site: Callable[..., Site], tmp_path: Path, trust: str) -> None:
    other = tmp_path / "other_host_key"
    keygen(other)
    if trust == "unknown":
        text = ""
    else:
        pub = Path(str(other) + ".pub").read_text().split()
        text = "{line}"  # filled below, once the port is known
    s = site(1, known_hosts_text=text, before=None)
    if trust == "changed":
        s.known_hosts.write_text(f"[127.0.0.1]:{s.servers[0].port} {pub[0]} {pub[1]}\n")
    ready_programme(s.app, payload(tmp_path / "p.mp3", 100_000))
    [outcome] = deliver.deliver_due(s.app)
    assert outcome.failed == 1
    [d] = deliveries(s)
    assert d.state == DeliveryState.FAILED.value
    assert ("unknown host key" if trust == "unknown" else "does not match") in (d.last_error or "")
    assert remote_names(s.remotes[0]) == []


def test_wrong_client_key_is_refused(site: Callable[..., Site], tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_key"
    keygen(wrong)
    s = site(1, key=wrong)
    ready_programme(s.app, payload(tmp_path / "p.mp3", 100_000))
    deliver.deliver_due(s.app)
    [d] = deliveries(s)
    assert d.state == DeliveryState.FAILED.value and "refused" in (d.last_error or "")
    assert remote_names(s.remotes[0]) == []


def test_read_only_remote_dir_is_a_permanent_error(site: Callable[..., Site],
                                                   tmp_path: Path) -> None:
    s = site(1)
    s.remotes[0].chmod(0o555)
    ready_programme(s.app, payload(tmp_path / "p.mp3", 100_000))
    deliver.deliver_due(s.app)
    [d] = deliveries(s)
    assert d.state == DeliveryState.FAILED.value
    assert "permission denied" in (d.last_error or "")


def test_a_file_deleted_at_the_station_is_pushed_again(site: Callable[..., Site],
                                                       tmp_path: Path) -> None:
    s = site(1)
    ready_programme(s.app, payload(tmp_path / "p.mp3", 200_000))
    deliver.deliver_due(s.app)
    [mp3] = [p for p in s.remotes[0].iterdir() if p.suffix == ".mp3"]
    mp3.unlink()  # someone cleaned the station's disk
    with s.app.db.write() as sess:  # any later connection runs the inventory
        d = sess.scalars(select(Delivery)).one()
    with StationLink(s.app.settings.stations[0], s.app.settings.delivery) as link:
        deliver.sync_inventory(s.app, link)
    assert deliveries(s)[0].state == DeliveryState.QUEUED.value
    deliver.deliver_due(s.app)
    assert mp3.exists() and deliveries(s)[0].state == DeliveryState.DELIVERED.value
    assert d.attempts == 1 and deliveries(s)[0].attempts == 2


def test_sshd_killed_mid_transfer_then_back_resumes_without_resending_everything(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(1)
    proxy = Proxy(s.servers[0].port, rate_bps=40_000_000)  # slow enough to catch it midway
    cfg = through_proxy(s, proxy, "[delivery]\nretry_backoff_seconds = [1]\n"
                                  "stall_timeout_seconds = 5")
    app = open_app(cfg)
    size = 12_000_000
    f = payload(tmp_path / "p.mp3", size)
    ready_programme(app, f)
    remote = s.remotes[0]

    def killer() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            parts = [p for p in remote.iterdir() if p.name.endswith(".part")]
            if parts and parts[0].stat().st_size > size * 0.4:
                s.servers[0].stop()  # sshd and its session die: the link is gone
                return
            time.sleep(0.02)

    t = threading.Thread(target=killer)
    t.start()
    [first] = deliver.deliver_due(app)
    t.join()
    assert first.retrying == 1
    part = [p for p in remote.iterdir() if p.name.endswith(".part")]
    assert part and part[0].stat().st_size < size
    s.servers[0].start()
    time.sleep(1.2)  # the backoff
    [second] = deliver.deliver_due(app)
    assert second.delivered == 1
    [d] = deliveries(Site(app, s.servers, s.remotes, s.known_hosts))
    assert d.state == DeliveryState.DELIVERED.value
    assert d.bytes_sent < 1.75 * size  # resumed: not everything twice
    mp3 = [p for p in remote.iterdir() if p.suffix == ".mp3"]
    assert hashlib.sha256(mp3[0].read_bytes()).digest() == hashlib.sha256(f.read_bytes()).digest()
    assert not [p for p in remote.iterdir() if p.name.startswith(".")]
    proxy.close()
    app.close()


def test_a_silently_dead_link_is_a_retryable_error_within_the_stall_timeout(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(1)
    proxy = Proxy(s.servers[0].port, rate_bps=20_000_000)
    cfg = through_proxy(s, proxy, "[delivery]\nstall_timeout_seconds = 3")
    app = open_app(cfg)
    ready_programme(app, payload(tmp_path / "p.mp3", 30_000_000))
    threading.Timer(1.0, proxy.blackhole.set).start()  # no FIN, no RST: bytes just stop
    t0 = time.monotonic()
    [outcome] = deliver.deliver_due(app)
    elapsed = time.monotonic() - t0
    assert outcome.retrying == 1
    assert elapsed < 15
    with app.db.read() as sess:
        d = sess.scalars(select(Delivery)).one()
    assert d.state == DeliveryState.QUEUED.value and "stalled" in (d.last_error or "")
    proxy.close()
    app.close()


def test_an_upload_is_one_ssh_packet_per_write_under_aes_gcm(
        site: Callable[..., Site], tmp_path: Path) -> None:
    """What a station costs the hub's CPU: a 32 KiB write used to go out as two SSH packets
    (the write's header pushed it past the channel's 32 KiB), under AES-CTR plus HMAC."""
    s = site(1)
    f = payload(tmp_path / "p.mp3", 2_000_000)
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    with StationLink(s.app.settings.stations[0], s.app.settings.delivery) as link:
        assert link.client is not None
        transport = link.client.get_transport()
        assert transport is not None
        assert transport.local_cipher == "aes128-gcm@openssh.com"
        packetizer = transport.packetizer
        before = packetizer._Packetizer__sent_packets  # type: ignore[attr-defined]
        link.upload(f, "p.mp3", sha)
        sent = packetizer._Packetizer__sent_packets - before  # type: ignore[attr-defined]
    writes = -(-2_000_000 // WRITE_BLOCK)
    print(f"{writes} writes, {sent} SSH packets")
    assert writes <= sent <= writes + 20  # + open, stat, close, rename, the .sha256 file
    assert (s.remotes[0] / "p.mp3").read_bytes() == f.read_bytes()
    s.app.close()


def test_a_link_waiting_on_the_hub_is_not_a_stalled_link(
        site: Callable[..., Site], tmp_path: Path) -> None:
    """A round keeps each station's link open from its delivery to its playbook, which waits
    for every other station and for the plan: idle time on the hub's side, not a stall."""
    s = site(1)
    st = s.app.settings.stations[0]
    settings = dataclasses.replace(s.app.settings.delivery, stall_timeout_seconds=1.0)
    with StationLink(st, settings) as link:
        link.write_small("first.json", b"{}")
        time.sleep(2.6)  # longer than the stall timeout, with nothing under way
        link.write_small("second.json", b"{}")  # the old watchdog had closed the link
        assert link.watchdog is not None and not link.watchdog.fired
    assert (s.remotes[0] / "second.json").read_bytes() == b"{}"
    s.app.close()


def test_daemon_sigkilled_mid_upload_leaves_one_correct_file_after_restart(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(1)
    proxy = Proxy(s.servers[0].port, rate_bps=16_000_000)
    cfg = through_proxy(s, proxy)
    size = 8_000_000
    f = payload(tmp_path / "p.mp3", size)
    ready_programme(s.app, f)
    remote = s.remotes[0]
    proc = subprocess.Popen([sys.executable, "-m", "radiocast", "--config", str(cfg), "run",
                             "--once"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        parts = [p for p in remote.iterdir() if p.name.endswith(".part")]
        if parts and parts[0].stat().st_size > size * 0.3:
            break
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert [p for p in remote.iterdir() if p.name.endswith(".part")]
    proxy.rate_bps = None
    res = subprocess.run([sys.executable, "-m", "radiocast", "--config", str(cfg), "run",
                          "--once"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    names = remote_names(remote)
    mp3 = [n for n in names if n.endswith(".mp3")]
    assert len(mp3) == 1 and not [n for n in names if n.startswith(".")]
    assert (remote / mp3[0]).read_bytes() == f.read_bytes()
    [d] = deliveries(s)
    assert d.state == DeliveryState.DELIVERED.value
    proxy.close()


def test_inventory_prunes_only_radiocasts_own_files_no_airing_needs(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(1)
    remote = s.remotes[0]
    foreign = remote / "2023-tet-nguyen-dan.mp3"  # the station's own file
    foreign.write_bytes(b"not ours")
    old = ready_programme(s.app, payload(tmp_path / "old.mp3", 10_000), "Tháng trước", "2020-01")
    deliver.deliver_due(s.app)  # delivered, then pruned at once: an old month, nothing planned
    names = remote_names(remote)
    assert "2020-01-thang-truoc.mp3" not in names and foreign.name in names
    cur = ready_programme(s.app, payload(tmp_path / "cur.mp3", 10_000), "Tháng này")
    deliver.deliver_due(s.app)
    names = remote_names(remote)
    assert foreign.exists() and any(n.endswith("thang-nay.mp3") for n in names)
    assert {d.state for d in deliveries(s)} == {DeliveryState.DELIVERED.value}  # no re-push loop
    assert old and cur
