"""Every configuration error names its key and exits with code 3."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from radiocast.cli.main import cli
from radiocast.config.settings import load_settings
from radiocast.core.errors import ConfigError, ExitCode

REPO = Path(__file__).resolve().parents[1]
STATION = '[[stations]]\nid = "son-lu"\nname = "Sơn Lư"\nhost = "son-lu.quanson.invalid"\n'

BAD = [
    ("[radiocast]\ntimezone = \"Mars/Olympus\"\n", "radiocast.timezone"),
    ("[radiocast]\nlanguage = \"fr\"\n", "radiocast.language"),
    ("[radiocast]\nsender = \"\"\n", "radiocast.sender"),
    ("[radiocast]\ndata_dir = 5\n", "radiocast.data_dir"),
    ("[radiocast]\ncolour = \"blue\"\n", "radiocast.colour"),
    ("[ingest]\nsettle_seconds = -1\n", "ingest.settle_seconds"),
    ("[ingest]\npolling = \"yes\"\n", "ingest.polling"),
    ("[audio]\ntarget_lufs = 3\n", "audio.target_lufs"),
    ("[audio]\ntrue_peak_dbtp = 1.0\n", "audio.true_peak_dbtp"),
    ("[audio]\nchannels = 6\n", "audio.channels"),
    ("[audio]\nbitrate = \"64\"\n", "audio.bitrate"),
    ("[audio]\nsample_rate = 4000\n", "audio.sample_rate"),
    ("[schedule]\nslots = [\"25:00-26:00\"]\n", "schedule.slots[0]"),
    ("[schedule]\nslots = [\"18:00-17:00\"]\n", "schedule.slots[0]"),
    ("[schedule]\nslots = [\"06:00-07:00\", \"06:30-07:30\"]\n", "schedule.slots"),
    ("[schedule]\nslots = []\n", "schedule.slots"),
    ("[schedule]\nreplays_per_month = 2\n", "schedule.replays_per_month"),
    ("[schedule]\nmin_gap_days = 40\n", "schedule.min_gap_days"),
    ("[delivery]\nmax_parallel = 0\n", "delivery.max_parallel"),
    ("[[alerts]]\nname = \"a\"\n", "alerts[0].url"),
    ("[[alerts]]\nurl = \"json://x.invalid\"\nquiet_hours = \"21-6\"\n", "alerts[0].quiet_hours"),
    ("[[alerts]]\nurl = \"json://x.invalid\"\nmin_severity = \"info\"\n",
     "alerts[0].min_severity"),
    ("[[alerts]]\nurl = \"json://x.invalid\"\ndigest_at = \"7h\"\n", "alerts[0].digest_at"),
    ("[[alerts]]\nurl = \"json://x.invalid\"\nstations = \"son-lu\"\n", "alerts[0].stations"),
    ("[[alerts]]\nurl = \"json://x.invalid\"\ncolour = 1\n", "alerts[0].colour"),
    ("[[alerts]]\nurl = \"json://a.invalid\"\n[[alerts]]\nurl = \"json://b.invalid\"\n"
     "name = \"alert-1\"\n", "alerts"),
    ("[metrics]\nlisten = \"9464\"\n", "metrics.listen"),
    ("[heartbeat]\nevery_seconds = -1\n", "heartbeat.every_seconds"),
    ("[delivery]\nretry_backoff_seconds = []\n", "delivery.retry_backoff_seconds"),
    ("[delivery]\nretry_backoff_seconds = [30, \"x\"]\n", "delivery.retry_backoff_seconds[1]"),
    (STATION + "port = 0\n", "stations[0].port"),
    (STATION + "port = 70000\n", "stations[0].port"),
    (STATION + "remote_dir = \"relative/dir\"\n", "stations[0].remote_dir"),
    (STATION + "remote_dir = \"/srv/radio; rm -rf /\"\n", "stations[0].remote_dir"),
    (STATION + "playout = \"carrier-pigeon\"\n", "stations[0].playout"),
    (STATION + "play_command = \"mpg123\"\n", "stations[0].play_command"),
    (STATION + "valid_from = 2025-07-01\nvalid_to = 2025-06-30\n", "stations[0].valid_to"),
    (STATION + "valid_from = \"July\"\n", "stations[0].valid_from"),
    (STATION + "hots = \"x\"\n", "stations[0].hots"),
    ('[[stations]]\nid = "Sơn Lư"\nname = "x"\nhost = "h.invalid"\n', "stations[0].id"),
    ('[[stations]]\nname = "x"\nhost = "h.invalid"\n', "stations[0].id"),
    ('[[stations]]\nid = "a"\nname = "x"\n', "stations[0].host"),
    (STATION + STATION, "stations[1].id"),
    ("stations = 3\n", "stations"),
    ("[radiocast\n", ""),
]


@pytest.mark.parametrize(("text", "key"), BAD)
def test_bad_config_names_the_key_and_exits_3(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "radiocast.toml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    if key:
        assert info.value.key == key
        assert str(info.value).startswith(key + ":")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "status"])
    assert isinstance(result.exception, ConfigError)
    assert result.exception.exit_code == ExitCode.CONFIG


def test_port_message_is_precise(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(STATION * 1 + "port = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"stations\[0\]\.port: must be 1–65535, got 0"):
        load_settings(cfg)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_relative_paths_resolve_against_the_config_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RADIOCAST_DATABASE_URL", raising=False)  # the default is the subject
    sub = tmp_path / "etc"
    sub.mkdir()
    (sub / "radiocast.toml").write_text(
        "[radiocast]\ndata_dir = \"state\"\n[ingest]\ndrop_dir = \"in\"\n" + STATION,
        encoding="utf-8")
    s = load_settings(sub / "radiocast.toml")
    assert s.general.data_dir == sub / "state"
    assert s.ingest.drop_dir == sub / "in"
    assert s.ingest.archive_dir == sub / "in" / "Đã nhận"
    assert s.ingest.quarantine_dir == sub / "in" / "Lỗi"
    assert s.stations[0].key_file == sub / "keys" / "id_ed25519"
    assert s.database_url == f"sqlite:///{sub / 'state' / 'radiocast.db'}"


@pytest.mark.parametrize("name", ["quan-son-2022.toml", "quan-son-2025.toml"])
def test_example_configs_are_valid(name: str) -> None:
    s = load_settings(REPO / "config" / name)
    assert all(st.host.endswith(".invalid") for st in s.stations)
    assert len(s.stations) == (12 if "2022" in name else 8)
