"""The station list a province keeps: `[station_defaults]` and `radiocast stations import`."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, time
from pathlib import Path

import pytest
from click.testing import CliRunner

from radiocast.cli.main import cli
from radiocast.config.settings import load_settings
from radiocast.core.errors import ConfigError, ExitCode
from radiocast.stations.roster import RosterError, import_stations

BASE = """# radiocast — Trung tâm VH-TT huyện Quan Sơn
[radiocast]
data_dir = "data"

[station_defaults]
user = "truyenthanh"
remote_dir = "/srv/loa/radiocast"
slots = ["06:00-06:45"]

# the district's own station, kept by hand
[[stations]]
id = "son-lu"
name = "Sơn Lư"
host = "son-lu.quanson.invalid"
port = 2222
"""


def write(tmp_path: Path, text: str = BASE) -> Path:
    p = tmp_path / "radiocast.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_station_defaults_apply_and_a_station_overrides(tmp_path: Path) -> None:
    cfg = write(tmp_path, BASE + '\n[[stations]]\nid = "tam-lu"\nname = "Tam Lư"\n'
                'host = "tam-lu.invalid"\nuser = "khac"\nslots = ["17:30-18:15"]\n')
    s = load_settings(cfg)
    son, tam = s.station("son-lu"), s.station("tam-lu")
    assert (son.user, son.remote_dir, son.port) == ("truyenthanh", "/srv/loa/radiocast", 2222)
    assert son.slots is not None and son.slots[0].start == time(6, 0)
    assert (tam.user, tam.remote_dir, tam.port) == ("khac", "/srv/loa/radiocast", 22)
    assert tam.slots is not None and tam.slots[0].start == time(17, 30)


@pytest.mark.parametrize(("extra", "key"), [
    ('id = "x"\n', "station_defaults.id"),
    ('name = "x"\n', "station_defaults.name"),
    ("port = 0\n", "station_defaults.port"),
    ('colour = "blue"\n', "station_defaults.colour"),
    ('playout = "radio"\n', "station_defaults.playout"),
])
def test_bad_station_defaults_name_their_key(tmp_path: Path, extra: str, key: str) -> None:
    cfg = write(tmp_path, BASE.replace("[station_defaults]\n", "[station_defaults]\n" + extra))
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert info.value.key == key


CSV = """\ufeffid;name;host;windows;valid_from;valid_to
son-lu;Sơn Lư;son-lu.quanson.invalid;;;2025-06-30
tam-lu;Tam Lư;tam-lu.quanson.invalid;06:00-06:45; 17:30-18:15;2025-07-01;
trung-ha;Trung Hạ;trung-ha.quanson.invalid;;;
"""


def test_import_creates_and_updates_keeping_comments(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    cfg.chmod(0o600)  # it holds alert URLs with tokens: so does its backup
    # windows with a ';' inside a ';'-separated file must be quoted, as a spreadsheet does
    csv_file = tmp_path / "xa.csv"
    csv_file.write_text(CSV.replace("06:00-06:45; 17:30-18:15", '"06:00-06:45; 17:30-18:15"'),
                        encoding="utf-8")
    res = import_stations(cfg, csv_file)
    assert res.updated == ["son-lu"] and res.created == ["tam-lu", "trung-ha"]
    text = cfg.read_text(encoding="utf-8")
    assert "# the district's own station, kept by hand" in text  # comments kept
    assert (tmp_path / "radiocast.toml.bak").read_text(encoding="utf-8") == BASE
    assert (tmp_path / "radiocast.toml.bak").stat().st_mode & 0o777 == 0o600
    assert cfg.stat().st_mode & 0o777 == 0o600
    s = load_settings(cfg)
    son = s.station("son-lu")
    assert son.port == 2222 and son.valid_to == date(2025, 6, 30)  # untouched + updated
    tam = s.station("tam-lu")
    assert tam.name == "Tam Lư" and tam.valid_from == date(2025, 7, 1)
    assert tam.slots is not None and [x.start for x in tam.slots] == [time(6, 0), time(17, 30)]
    assert s.station("trung-ha").user == "truyenthanh"  # from [station_defaults]
    again = import_stations(cfg, csv_file)  # idempotent
    assert again.unchanged == ["son-lu", "tam-lu", "trung-ha"] and not again.created


def test_a_dash_removes_a_key(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    (tmp_path / "a.csv").write_text("id,port\nson-lu,-\n", encoding="utf-8")
    import_stations(cfg, tmp_path / "a.csv")
    assert load_settings(cfg).station("son-lu").port == 22


@pytest.mark.parametrize(("csv_text", "row", "column"), [
    ("id,name,host\ntam-lu,Tam Lư,tam.invalid\nXã Mường Mìn,Mường Mìn,mm.invalid\n", 3, "id"),
    ("id,name,host,windows\ntam-lu,Tam Lư,tam.invalid,6h-7h\n", 2, "windows"),
    ("id,name,host,valid_from\ntam-lu,Tam Lư,tam.invalid,30/6/2025\n", 2, "valid_from"),
    ("id,name,host,port\ntam-lu,Tam Lư,tam.invalid,hai\n", 2, "port"),
    ("id,name,host\ntam-lu,Tam Lư,tam.invalid\ntam-lu,Tam Lư 2,tam2.invalid\n", 3, "id"),
    ("id,name\nmuong-min,Mường Mìn\n", 2, "host"),  # a new station needs a host
    ("id,name,host,valid_from,valid_to\nx-a,A,a.invalid,2025-07-01,2025-01-01\n", 2, "valid_to"),
    ("id,name,host,transfer\nx-b,B,b.invalid,pull\n", 2, "playout"),
    ("id,name,host,colour\nx-c,C,c.invalid,blue\n", 1, "colour"),
    ("id,name,host\n,No id,n.invalid\n", 2, "id"),
])
def test_a_bad_row_names_row_and_column_and_nothing_is_written(
        tmp_path: Path, csv_text: str, row: int, column: str) -> None:
    cfg = write(tmp_path)
    (tmp_path / "bad.csv").write_text(csv_text, encoding="utf-8")
    with pytest.raises(RosterError) as info:
        import_stations(cfg, tmp_path / "bad.csv")
    assert (info.value.row, info.value.column) == (row, column)
    assert f"row {row}" in str(info.value)
    assert cfg.read_text(encoding="utf-8") == BASE  # nothing half-imported
    assert not (tmp_path / "radiocast.toml.bak").exists()


def test_the_cli_imports_and_reports(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    (tmp_path / "x.csv").write_text("id,name,host\nmuong-min,Mường Mìn,mm.invalid\n",
                                    encoding="utf-8")
    dry = CliRunner().invoke(cli, ["--config", str(cfg), "--lang", "en", "stations", "import",
                                   str(tmp_path / "x.csv"), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "1 to add" in dry.output and cfg.read_text(encoding="utf-8") == BASE
    res = CliRunner().invoke(cli, ["--config", str(cfg), "stations", "import",
                                   str(tmp_path / "x.csv")])
    assert res.exit_code == 0, res.output
    assert "thêm 1" in res.output and "+ muong-min" in res.output
    assert load_settings(cfg).station("muong-min").name == "Mường Mìn"
    (tmp_path / "bad.csv").write_text("id,name,host\nmuong min,M,m.invalid\n", encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "radiocast", "--config", str(cfg), "stations",
                          "import", str(tmp_path / "bad.csv")], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == ExitCode.USAGE and "row 2, column 'id'" in bad.stderr


def test_a_languages_column_sets_what_a_station_airs_and_unknown_ones_are_refused(
        tmp_path: Path) -> None:
    cfg = write(tmp_path)
    (tmp_path / "a.csv").write_text("id;languages\nson-lu;vi, Thái\n", encoding="utf-8")
    import_stations(cfg, tmp_path / "a.csv")
    assert load_settings(cfg).station("son-lu").languages == ("vi", "blt")
    before = cfg.read_text(encoding="utf-8")
    (tmp_path / "b.csv").write_text("id,languages\nson-lu,vi; klingon\n", encoding="utf-8")
    with pytest.raises((RosterError, ConfigError)) as err:
        import_stations(cfg, tmp_path / "b.csv")
    assert "klingon" in str(err.value)
    assert cfg.read_text(encoding="utf-8") == before  # nothing half-imported
