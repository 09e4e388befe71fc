"""`radiocast station …`: the commands a commune's technician runs on the station machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from radiocast.agent.config import (
    HubConfig,
    StationConfig,
    find_station_config,
    init_station_dir,
    load_station_config,
)
from radiocast.cli.kit import Ctx, emit_json, json_option, pass_ctx, pin_host_key
from radiocast.core.errors import ExitCode, UsageError
from radiocast.core.i18n import t


@click.group()
@click.option("--config", "station_config", type=click.Path(dir_okay=False),
              help="The agent's configuration (default: $RADIOCAST_STATION_CONFIG, "
                   "/etc/radiocast/station.toml).")
@click.pass_context
def station(ctx: click.Context, station_config: str | None) -> None:
    """The station agent: what a commune runs (plays the month, keeps proof of play)."""
    ctx.obj.station_config = station_config


def _station_config(c: Ctx) -> StationConfig:
    return load_station_config(find_station_config(getattr(c, "station_config", None)))


@station.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@pass_ctx
def station_init(c: Ctx, directory: str) -> None:
    """Write a starter station.toml and the media/ and state/ folders into DIRECTORY."""
    path = init_station_dir(Path(directory))
    click.echo(t("cli.station_init_done", c.language, path=path))


@station.command("run")
@pass_ctx
def station_run(c: Ctx) -> None:
    """Run the agent (under systemd: radiocast-station.service)."""
    from radiocast.agent.run import run_agent

    sys.exit(run_agent(_station_config(c)))


@station.command("status")
@json_option
@pass_ctx
def station_status_cmd(c: Ctx, as_json: bool) -> None:
    """What the agent last reported: playbook, files, backlog, last airing."""
    from radiocast.agent.run import station_status

    doc = station_status(_station_config(c))
    if as_json:
        emit_json(doc)
    else:
        click.echo(render_station_status(doc, c.language))


@station.command("play-test")
@pass_ctx
def station_play_test(c: Ctx) -> None:
    """Play a short tone through the configured player: is the sound reaching the speakers?
    With [capture], say what was heard at the output (exit 1 when nothing was)."""
    from radiocast.agent.run import play_test

    done = play_test(_station_config(c), lang=c.language)
    if done.code != 0:
        click.echo(t("cli.play_test_failed", c.language, code=done.code, err=done.err),
                   err=True)
        sys.exit(ExitCode.PARTIAL)
    h = done.heard
    if h is None:
        click.echo(t("cli.play_test_done", c.language))
    elif h.error:
        click.echo(t("cli.play_test_no_capture", c.language, source=h.source, err=h.error),
                   err=True)
        sys.exit(ExitCode.PARTIAL)
    elif done.silent:
        click.echo(t("cli.play_test_silent", c.language, source=h.source,
                     share=round(100 * (h.silent_fraction or 0.0))), err=True)
        sys.exit(ExitCode.PARTIAL)
    else:
        click.echo(t("cli.play_test_heard", c.language, source=h.source, lufs=h.lufs,
                     share=round(100 * (h.silent_fraction or 0.0)), seconds=round(h.seconds)))


@station.command("keygen")
@pass_ctx
def station_keygen(c: Ctx) -> None:
    """Make the station's SSH key for a pull station ([hub] key_file); print its public line."""
    hub = _hub(c)
    from radiocast.stations.ssh import make_key

    line = make_key(hub.key_file)
    click.echo(t("cli.keygen_done", c.language, path=hub.key_file))
    click.echo(line)


@station.command("enroll")
@click.option("--yes", is_flag=True, help="Record the key without asking.")
@pass_ctx
def station_enroll(c: Ctx, yes: bool) -> None:
    """Pin the hub's host key (a pull station): show its fingerprint, record on confirmation."""
    hub = _hub(c)
    pin_host_key(hub, hub.connect_timeout_seconds, c.language, yes, hub.host,
                 lambda kind, fp: t("cli.hub_enroll_show", c.language, host=hub.host,
                                    port=hub.port, type=kind, fp=fp))


def _hub(c: Ctx) -> HubConfig:
    cfg = _station_config(c)
    if cfg.hub is None:
        raise UsageError(t("cli.no_hub", c.language))
    return cfg.hub


def render_station_status(doc: dict[str, Any], lang: str) -> str:
    hb = doc.get("heartbeat")
    if not hb:
        return t("cli.station_no_heartbeat", lang, dir=doc["media_dir"])
    files = hb.get("files", {})
    last = hb.get("last_airing") or {}
    lines = [
        t("cli.station_line_time", lang, id=hb.get("station_id"), time=hb.get("time")),
        t("cli.station_line_playbook", lang, version=hb.get("playbook_version")),
        t("cli.station_line_files", lang, ok=len(files.get("ok", [])),
          missing=len(files.get("missing", [])), corrupt=len(files.get("corrupt", []))),
        t("cli.station_line_backlog", lang, n=hb.get("backlog", 0)),
        t("cli.station_line_last", lang, id=last.get("airing_id", "-"),
          status=last.get("status", "-")),
    ]
    if hb.get("last_error"):
        lines.append(t("cli.station_line_error", lang, err=hb["last_error"]))
    return "\n".join(lines)
