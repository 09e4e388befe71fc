"""Proof that sound came out: the agent listens to the station's output (a real PulseAudio
server's null sink, its `.monitor` captured by ffmpeg) while it plays, and the hub counts an
airing only when its capture heard it — or, with no level, on the player's word with a
problem naming the device."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from radiocast.agent.agent import Agent
from radiocast.agent.config import CaptureConfig
from radiocast.airing import agents
from radiocast.airing.planning import plan_all
from radiocast.airing.playbook import publish_playbook
from radiocast.core.models import AiringKind, AiringState
from radiocast.core.months import local_month
from radiocast.db import ops
from radiocast.db.schema import AsRunEvent
from radiocast.report.build import build_report
from radiocast.report.files import render_report
from radiocast.stations import deliver
from radiocast.status.problems import find_problems

from ..conftest import Site, ebur128, make_tone, ready_programme
from ..pulse import SINK, player_to_sink, pulse_server
from .helpers import TZ, AgentSite, agent_site, airings, states

SECONDS = 12  # the programme's length: each airing below plays it in real time
ALL_DAY = '[schedule]\nslots = ["00:00-23:59"]\nlead_minutes = 0\n'


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[str]:
    with pulse_server(tmp_path / "pulse") as address:
        yield address


def station(site: Callable[..., Site], tmp_path: Path, source: str) -> tuple[AgentSite, int]:
    """An agent station with `[capture] source`, and a real programme delivered to it."""
    now = datetime.now(TZ).replace(microsecond=0)
    a = agent_site(site, tmp_path, now, extra=ALL_DAY, player=player_to_sink())
    a.cfg = dataclasses.replace(a.cfg, capture=CaptureConfig(source))
    prog = make_tone(tmp_path / "chuong-trinh.mp3", seconds=SECONDS, lufs=-18.0)
    pid = ready_programme(a.hub, prog)
    assert sum(o.delivered for o in deliver.deliver_due(a.hub)) == 1
    return a, pid


def air(a: AgentSite, pid: int, player: str | None = None) -> tuple[int, dict[str, object]]:
    """Plan one airing two seconds ahead, let a fresh agent play it through, and bring its
    event to the hub: (airing id, the event's `heard`)."""
    now = datetime.now(TZ).replace(microsecond=0)
    a.hub_clock.now = a.clock.now = now
    with a.hub.db.write() as s:
        aid = ops.add_airing(s, pid, "st0", local_month(now, TZ), AiringKind.PREMIERE,
                             now + timedelta(seconds=2), now).id
    assert publish_playbook(a.hub, "st0")
    cfg = a.cfg if player is None else dataclasses.replace(a.cfg, player=player)
    agent = Agent(cfg, clock=a.clock)
    try:
        a.clock.now = now + timedelta(seconds=3)
        agent.tick()
        assert agent.current is not None and agent.current.item.airing_id == aid
        deadline = time.monotonic() + SECONDS + 30
        while agent.current is not None:
            assert time.monotonic() < deadline, "the airing did not end"
            time.sleep(0.2)
            a.clock.now = datetime.now(TZ) + timedelta(seconds=3)
            agent.tick()
    finally:
        agent.close()
    a.hub_clock.now = datetime.now(TZ) + timedelta(seconds=5)
    got = agents.collect(a.hub, a.hub.settings.station("st0"))
    assert got.stored == 1 and got.bad == 0
    with a.hub.db.read() as s:
        raw = s.scalars(select(AsRunEvent.raw).where(AsRunEvent.airing_id == aid)).one()
    heard = json.loads(raw).get("heard")
    assert isinstance(heard, dict)
    return aid, heard


def test_an_airing_heard_at_the_output_counts_and_a_silent_one_is_made_up(
        site: Callable[..., Site], tmp_path: Path, pulse: str) -> None:
    a, pid = station(site, tmp_path, f"pulse:{SINK}.monitor")
    own = ebur128(tmp_path / "chuong-trinh.mp3").integrated
    # the player exits 0 and sends nothing (the amplifier's input unplugged, a muted mixer)
    silent_id, silent = air(a, pid, player=f"sleep {SECONDS} # {{file}}")
    print(f"silent player: heard {silent}")
    assert states(a.hub)[silent_id] == AiringState.SILENT.value
    assert silent["silent_fraction"] == 1.0 and silent["lufs"] is None
    [p] = [p for p in find_problems(a.hub, "vi") if p.code == "played_silent"]
    assert p.severity == "error" and p.subject == "st0"
    assert "radiocast station play-test" in p.action and "bộ khuếch đại" in p.action
    plan_all(a.hub)  # a make-up in the month's free windows
    makeups = [x for x in airings(a.hub) if x.replaces_id == silent_id]
    assert [m.kind for m in makeups] == [AiringKind.MAKEUP.value]

    # the same programme through the real player: heard, at the file's own loudness
    heard_id, heard = air(a, pid)
    print(f"file {own:.1f} LUFS; heard {heard}")
    assert states(a.hub)[heard_id] == AiringState.AIRED.value
    assert heard["source"] == f"pulse:{SINK}.monitor" and "error" not in heard
    assert isinstance(heard["lufs"], float) and abs(heard["lufs"] - own) <= 2.0
    assert isinstance(heard["silent_fraction"], float) and heard["silent_fraction"] < 0.2
    assert isinstance(heard["seconds"], float) and heard["seconds"] >= SECONDS - 4
    assert not [p for p in find_problems(a.hub, "vi") if p.code == "played_silent"]

    month = local_month(a.hub_clock.now, TZ)
    data = build_report(a.hub, month)
    [cell] = data["stations"][0]["months"]
    by_id = {d["airing_id"]: d for d in data["airings"]}
    assert by_id[heard_id]["evidence"] == "heard"
    assert by_id[silent_id]["evidence"] == "output silent"
    assert data["totals"]["airings_aired"] == 1  # the silent airing does not count
    assert cell["premiere_at"] is not None
    md = render_report(data, "md", "vi").decode()
    assert "1 nghe thấy ở đầu ra, 1 đầu ra không có tiếng" in md  # the evidence, counted
    pdf = tmp_path / "bao-cao.pdf"
    pdf.write_bytes(render_report(data, "pdf", "vi"))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "nghe thấy ở đầu ra" in " ".join(text.split())  # the PDF summary counts them


def test_a_capture_device_that_does_not_exist_never_stops_the_airing(
        site: Callable[..., Site], tmp_path: Path, pulse: str) -> None:
    a, pid = station(site, tmp_path, "pulse:khong_co_thiet_bi.monitor")
    aid, heard = air(a, pid)
    print(f"capture on a missing device: {heard}")
    assert states(a.hub)[aid] == AiringState.AIRED.value  # played, counted on the player's word
    assert heard["lufs"] is None and "khong_co_thiet_bi" in str(heard["source"])
    assert str(heard.get("error", "")).strip()  # why there is no level
    [p] = [p for p in find_problems(a.hub, "vi") if p.code == "capture_failing"]
    assert p.severity == "warning" and "khong_co_thiet_bi.monitor" in p.message
    assert "[capture]" in p.action
    data = build_report(a.hub, local_month(a.hub_clock.now, TZ))
    [row] = [d for d in data["airings"] if d["airing_id"] == aid]
    assert row["evidence"] == "station-confirmed"


def test_play_test_says_what_it_heard(tmp_path: Path, pulse: str) -> None:
    toml = tmp_path / "station.toml"
    for d in ("media", "state"):
        (tmp_path / d).mkdir()

    def play_test(player: str, source: str) -> subprocess.CompletedProcess[str]:
        toml.write_text(f'[station]\nid = "st0"\nmedia_dir = "media"\nstate_dir = "state"\n'
                        f'player = "{player}"\n[capture]\nsource = "{source}"\n',
                        encoding="utf-8")
        return subprocess.run([sys.executable, "-m", "radiocast", "--lang", "vi", "station",
                               "--config", str(toml), "play-test"], capture_output=True,
                              text=True, timeout=120, env=os.environ.copy())

    ok = play_test(player_to_sink(), f"pulse:{SINK}.monitor")
    print(ok.stdout, ok.stderr)
    assert ok.returncode == 0 and "nghe thấy tiếng ở đầu ra" in ok.stdout
    quiet = play_test("sleep 1 # {file}", f"pulse:{SINK}.monitor")
    assert quiet.returncode == 1 and "KHÔNG nghe thấy tiếng" in quiet.stderr
    gone = play_test(player_to_sink(), "pulse:khong_co.monitor")
    assert gone.returncode == 1 and "không đo được tiếng" in gone.stderr
    assert "khong_co.monitor" in gone.stderr


@pytest.mark.parametrize(("capture", "key"), [
    ('source = "hw:1,0"', "capture.source"),  # no kind
    ('source = "pulse:a b"', "capture.source"),  # a space: not a device name
    ('source = "pulse:x; rm -rf /"', "capture.source"),
    ('source = "jack:system"', "capture.source"),
    ('source = "pulse:x"\nsilence_lufs = 0', "capture.silence_lufs"),
    ('source = "pulse:x"\nchannels = 6', "capture.channels"),
    ('source = "pulse:x"\nsorce = "pulse:y"', "capture.sorce"),
    ("silence_lufs = -50", "capture.source"),
])
def test_a_capture_setting_that_cannot_work_is_refused_with_its_key(
        tmp_path: Path, capture: str, key: str) -> None:
    from radiocast.agent.config import load_station_config
    from radiocast.core.errors import ConfigError

    toml = tmp_path / "station.toml"
    toml.write_text(f'[station]\nid = "st0"\nmedia_dir = "m"\nstate_dir = "s"\n'
                    f"[capture]\n{capture}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_station_config(toml)
    assert key in str(err.value)
    toml.write_text('[station]\nid = "st0"\nmedia_dir = "m"\nstate_dir = "s"\n[capture]\n'
                    'source = "alsa:plughw:CARD=Loopback,DEV=1"\nsilence_lufs = -45\n',
                    encoding="utf-8")
    cap = load_station_config(toml).capture
    assert cap is not None and (cap.source, cap.silence_lufs, cap.channels) == (
        "alsa:plughw:CARD=Loopback,DEV=1", -45.0, 1)
