"""`check`, `stations enroll` and playbook stations, against real sshd."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from radiocast.airing import asrun, playout
from radiocast.cli.main import cli
from radiocast.core.models import AiringKind, AiringState
from radiocast.db import ops
from radiocast.db.schema import Airing
from radiocast.setup import run_checks
from radiocast.stations import deliver

from .conftest import Site, ready_programme


def test_check_reaches_a_real_station(site: Callable[..., Site]) -> None:
    s = site(1)
    results = run_checks(s.app)
    assert all(ok for ok, _ in results), results
    assert any("st0" in msg for _, msg in results)
    assert not list(s.remotes[0].iterdir())  # the probe cleaned up after itself


def test_enroll_records_the_key_only_when_confirmed(site: Callable[..., Site]) -> None:
    s = site(1, known_hosts_text="")
    cfg = str(s.app.settings.path)
    runner = CliRunner()
    declined = runner.invoke(cli, ["--config", cfg, "--lang", "en", "stations", "enroll", "st0"],
                             input="n\n")
    assert declined.exit_code == 1 and "fingerprint" in declined.output
    assert s.known_hosts.read_text() == ""
    pub = (s.servers[0].host_key.parent / "host_ed25519.pub").read_text().split()
    accepted = runner.invoke(cli, ["--config", cfg, "stations", "enroll", "st0", "--yes"])
    assert accepted.exit_code == 0, accepted.output
    line = s.known_hosts.read_text()
    assert f"[127.0.0.1]:{s.servers[0].port}" in line and pub[1] in line
    assert all(ok for ok, _ in run_checks(s.app))


def test_playbook_station_airs_by_itself_and_confirms_in_its_as_run_file(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(1, station_extra='playout = "playbook"')
    f = tmp_path / "p.mp3"
    f.write_bytes(os.urandom(5000))
    pid = ready_programme(s.app, f)
    deliver.deliver_due(s.app)
    now = s.app.clock()
    with s.app.db.write() as sess:
        a = ops.add_airing(sess, pid, "st0", "2026-11", AiringKind.PREMIERE, now, now)
        aid = a.id
    assert playout.air(s.app, aid) == AiringState.AIRING  # no command was run
    playout.recover(s.app)  # a restart does not call it interrupted
    with s.app.db.read() as sess:
        assert sess.get_one(Airing, aid).state == AiringState.AIRING.value
    start = now.isoformat()
    end = (now + timedelta(minutes=15)).isoformat()
    (s.remotes[0] / "asrun.jsonl").write_text(json.dumps(
        {"airing_id": aid, "started_at": start, "finished_at": end, "status": "aired"}) + "\n")
    assert asrun.confirm_playbook_airings(s.app) == 1
    with s.app.db.read() as sess:
        a = sess.scalars(select(Airing)).one()
        assert a.state == AiringState.AIRED.value and a.finished_at is not None
