"""The running hub answers `status`, `programmes` and `schedule` on its socket: the same
documents as the commands read from the database, without loading the database layer in the
command; anything else on the socket is refused, and a hub that is not there costs nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from radiocast.app import App
from radiocast.cli.ask import from_hub
from radiocast.config.peek import SOCKET
from radiocast.status.answer import Answerer

from .conftest import Site, ready_programme
from .faults.test_stations import add_airing, payload

PROBE = ("import atexit, sys\n"
         "atexit.register(lambda: sys.stderr.write('\\nLOADED=' + ','.join(sorted(\n"
         "    m for m in ('sqlalchemy', 'radiocast.db.schema', 'paramiko', 'numpy')\n"
         "    if m in sys.modules))))\n"
         "from radiocast.cli.main import main\n"
         "main(sys.argv[1:])\n")


def command(app: App, *args: str, hub: bool = True) -> tuple[int, str, set[str]]:
    """Run a command as a user types it: (exit status, stdout, heavy modules it loaded)."""
    env = {**os.environ, "RADIOCAST_NO_HUB_ANSWER": "" if hub else "1"}
    proc = subprocess.run([sys.executable, "-c", PROBE, "--config", str(app.settings.path),
                           *args], capture_output=True, text=True, env=env, timeout=60)
    loaded = proc.stderr.rsplit("LOADED=", 1)[-1].strip()
    return proc.returncode, proc.stdout, set(filter(None, loaded.split(",")))


def world(site: Callable[..., Site], tmp_path: Path) -> App:
    s = site(2, station_extra='playout = "agent"')
    pid = ready_programme(s.app, payload(tmp_path / "p.mp3", 5000))
    for sid in ("st0", "st1", "st0"):
        add_airing(s, pid, sid)
    return s.app


def test_the_running_hub_answers_the_listings_as_the_database_would(
        site: Callable[..., Site], tmp_path: Path) -> None:
    app = world(site, tmp_path)
    month = app.clock().astimezone(app.settings.general.tz).strftime("%Y-%m")
    with Answerer(app).serving():
        for args in (["status", "--json"], ["programmes", "--json"], ["schedule", "--json"],
                     ["schedule", "--json", "--station", "st1", "--month", month],
                     ["--lang", "en", "status", "--json"], ["status"], ["schedule"]):
            code, asked, loaded = command(app, *args)
            code_db, read, loaded_db = command(app, *args, hub=False)
            assert code == code_db == 0, args
            if "--json" in args:
                a, b = json.loads(asked), json.loads(read)
                if isinstance(a, dict):
                    a.pop("generated_at"), b.pop("generated_at")
                assert a == b, args
            else:
                assert asked.splitlines()[1:] == read.splitlines()[1:], args
            assert not loaded, (args, loaded)  # the hub answered: no database layer here
            assert "sqlalchemy" in loaded_db
        st1 = json.loads(command(app, "schedule", "--json", "--station", "st1")[1])
        assert [a["station_id"] for a in st1] == ["st1"]
        # a station no longer configured is looked for in the database, as before
        code, _, loaded = command(app, "schedule", "--station", "khong-co")
        assert code == 2 and "sqlalchemy" in loaded


def test_the_socket_refuses_what_it_does_not_serve_and_goes_on(
        site: Callable[..., Site], tmp_path: Path) -> None:
    app = world(site, tmp_path)
    path = app.settings.general.data_dir / SOCKET
    with Answerer(app).serving():
        assert oct(path.stat().st_mode & 0o777) == "0o660"  # the hub user's and group's
        for raw in (b"not json\n", b"[1, 2]\n", b'{"view": "airings; DROP"}\n',
                    b'{"view": "schedule", "month": "2026-13"}\n',
                    b'{"view": "schedule", "station": "../x"}\n',
                    b'{"view": "status", "lang": "fr"}\n', b"{" + b" " * 10_000 + b"}\n"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(10)
                sock.connect(str(path))
                sock.sendall(raw)
                try:
                    reply = json.loads(b"".join(iter(lambda s=sock: s.recv(65536), b"")))
                except ConnectionResetError:  # too long: answered and closed unread
                    assert len(raw) > 4096
                    continue
            assert reply["ok"] is False and reply["error"], raw
        assert from_hub(app.settings.general.data_dir, {"view": "nothing"}) is None
        doc = from_hub(app.settings.general.data_dir, {"view": "programmes"})
        assert isinstance(doc, list) and doc[0]["title"]


def test_no_hub_or_a_socket_left_behind_costs_only_the_usual_read(
        site: Callable[..., Site], tmp_path: Path) -> None:
    app = world(site, tmp_path)
    path = app.settings.general.data_dir / SOCKET
    path.parent.mkdir(parents=True, exist_ok=True)  # (on PostgreSQL nothing made it yet)
    gone = socket.socket(socket.AF_UNIX)
    gone.bind(str(path))  # a hub that died left its socket: nobody listens
    gone.close()
    code, out, loaded = command(app, "programmes", "--json")
    assert code == 0 and json.loads(out)[0]["title"] and "sqlalchemy" in loaded
    with Answerer(app).serving():  # the next hub takes the place of the old socket
        assert command(app, "programmes", "--json")[2] == set()
    assert not path.exists()  # and leaves none behind


@pytest.mark.parametrize("view", ["status", "programmes", "schedule"])
def test_a_data_folder_too_long_for_a_socket_reads_the_database(
        make_app: Callable[..., App], tmp_path: Path, view: str) -> None:
    root = tmp_path / ("d" * 120)
    root.mkdir()
    app = make_app(root=root)
    answerer = Answerer(app)
    assert answerer.start() is False
    assert from_hub(app.settings.general.data_dir, {"view": view}) is None
