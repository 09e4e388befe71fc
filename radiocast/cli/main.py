"""The command line: thin click commands that parse, call one service function, render.

Each command imports its service when it runs: a listing command must not pay for paramiko,
numpy, APScheduler and openpyxl (about half a second) before it reads the database."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from radiocast import __version__
from radiocast.cli.alerts import alerts
from radiocast.cli.approvals import approvals, approve, decline, verify
from radiocast.cli.kit import (
    Ctx,
    emit_json,
    json_option,
    known_station,
    month_option,
    pass_ctx,
    pin_host_key,
    render_table,
)
from radiocast.cli.publish import publish
from radiocast.cli.station import station
from radiocast.cli.web import users
from radiocast.config.peek import find_config
from radiocast.core.errors import ExitCode, NoDataError, RadiocastError, UsageError
from radiocast.core.i18n import t
from radiocast.core.sysd import JournalFormatter, under_systemd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False),
              help="Configuration file (default: $RADIOCAST_CONFIG, ./config/radiocast.toml, "
                   "/etc/radiocast/radiocast.toml).")
@click.option("--lang", type=click.Choice(["vi", "en"]), help="Language of messages.")
@click.option("-v", "--verbose", count=True, help="More logging; tracebacks on errors.")
@click.version_option(__version__, prog_name="radiocast")
@click.pass_context
def cli(ctx: click.Context, config: str | None, lang: str | None, verbose: int) -> None:
    """radiocast: carry the monthly programme to every commune station, air it, report it."""
    ctx.obj = Ctx(config, lang, verbose)
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter() if under_systemd() else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@pass_ctx
def init(c: Ctx, directory: str) -> None:
    """Write a starter config and folders into DIRECTORY."""
    from radiocast.setup import init_directory

    path = init_directory(Path(directory))
    click.echo(t("cli.init_done", c.language, path=path))


@cli.command()
@click.option("--no-stations", is_flag=True, help="Skip connecting to the stations.")
@json_option
@pass_ctx
def check(c: Ctx, no_stations: bool, as_json: bool) -> None:
    """Validate config, database, ffmpeg, folders; reach each station."""
    app = c.app()
    from radiocast.setup import run_checks

    results = run_checks(app, stations=not no_stations)
    bad = sum(1 for ok, _ in results if not ok)
    if as_json:
        emit_json({"ok": not bad, "failed": bad,
                   "checks": [{"ok": ok, "message": m} for ok, m in results]})
    else:
        labels = (t("cli.check_fail", app.lang), t("cli.check_ok", app.lang))
        width = max(map(len, labels))
        for ok, message in results:
            click.echo(f"{labels[ok].ljust(width)}  {message}")
        click.echo(t("cli.check_failed" if bad else "cli.check_passed", app.lang, n=bad))
    if bad:
        sys.exit(ExitCode.PARTIAL)


@cli.command()
@click.option("--once", is_flag=True, help="Do all pending work, then exit.")
@pass_ctx
def run(c: Ctx, once: bool) -> None:
    """Run the daemon (ingest, normalize, deliver, plan, air). On PostgreSQL the hub leads
    only while it holds the lease, and stands by while another hub does."""
    from radiocast.daemon import Daemon
    from radiocast.status.answer import Answerer

    app = c.app()
    with Answerer(app).serving(not once):  # `status`, `programmes`, `schedule` ask it
        if app.db.is_sqlite:
            sys.exit(Daemon(app).run(once=once))
        from radiocast.hub import Hub

        def lead(_fence: object, stop: threading.Event) -> tuple[int, bool]:
            daemon = Daemon(app, stop=stop)
            return daemon.run(once=once), daemon.signals > 0

        sys.exit(Hub(app, lead).run(once=once))


@cli.command()
@pass_ctx
def migrate(c: Ctx) -> None:
    """Bring the database schema up to this version (run, check do it too)."""
    app = c.app()
    click.echo(t("cli.db_ok", app.lang, rev=app.db.current_revision()))


@cli.command()
@json_option
@pass_ctx
def status(c: Ctx, as_json: bool) -> None:
    """One screen: programmes, delivery matrix, next airings, problems."""
    from radiocast.status.screen import render_status

    doc = c.from_hub("status")  # the running hub answers at once; else read the database
    if doc is None:
        from radiocast.status.problems import build_status

        doc = build_status(c.app(readonly=True))
    emit_json(doc) if as_json else click.echo(render_status(doc, c.language))


@cli.command()
@month_option
@json_option
@pass_ctx
def programmes(c: Ctx, month: str | None, as_json: bool) -> None:
    """List programmes with state, reason and loudness."""
    rows = c.from_hub("programmes", month=month)
    if rows is None:
        from radiocast.db import views

        app = c.app(readonly=True)
        with app.db.read() as s:
            rows = views.list_programmes(s, app.settings.general.tz, month, app.lang,
                                         app.settings.languages)
    if as_json:
        emit_json(rows)
    elif not rows:
        click.echo(t("cli.no_programmes", c.language))
    else:
        shown = [{**r, "language": r["language_name"]} for r in rows]  # the name staff use
        render_table(shown, ["id", "month", "language", "state", "title", "duration_s",
                            "output_lufs", "slug", "reason"], c.language, "programme")


@cli.command()
@click.option("--station", help="Only this station id.")
@json_option
@pass_ctx
def deliveries(c: Ctx, station: str | None, as_json: bool) -> None:
    """Show what has reached each station."""
    from radiocast.db import views

    app = c.app(readonly=True)
    if station:
        known_station(app, station, history=True)
    with app.db.read() as s:
        rows = views.list_deliveries(s, app.settings.general.tz, station)
    if as_json:
        emit_json(rows)
    elif not rows:
        click.echo(t("cli.no_deliveries", app.lang))
    else:
        render_table(rows, ["programme_id", "station_id", "state", "attempts", "bytes_sent",
                            "delivered_at", "last_error"], app.lang, "delivery")


@cli.command()
@click.option("--station", help="Only this station id.")
@month_option
@json_option
@pass_ctx
def schedule(c: Ctx, station: str | None, month: str | None, as_json: bool) -> None:
    """Show planned and past airings."""
    seen = c.glance()
    configured = station is None or (seen is not None and station in seen.stations)
    rows = c.from_hub("schedule", station=station, month=month) if configured else None
    if rows is None:  # (a station no longer configured is looked for in the database)
        from radiocast.db import views

        app = c.app(readonly=True)
        if station:
            known_station(app, station, history=True)
        with app.db.read() as s:
            rows = views.list_airings(s, app.settings.general.tz, station, month)
    if as_json:
        emit_json(rows)
    elif not rows:
        click.echo(t("cli.no_airings", c.language))
    else:
        render_table(rows, ["id", "planned_at", "station_id", "programme_id", "kind", "state",
                            "detail"], c.language, "airing")


@cli.group(invoke_without_command=True)
@json_option
@click.pass_context
def stations(ctx: click.Context, as_json: bool) -> None:
    """Each station: reachable?, last contact, last error, free space."""
    if ctx.invoked_subcommand is not None:
        return

    c: Ctx = ctx.obj
    from radiocast.db import views

    app = c.app(readonly=True)
    with app.db.read() as s:
        rows = views.list_stations(s, app.settings.general.tz)
    if as_json:
        emit_json(rows)
    else:
        render_table(rows, ["id", "name", "reachable", "last_contact_at", "free_bytes",
                            "last_error"], app.lang)


@stations.command()
@click.argument("station_id")
@click.option("--yes", is_flag=True, help="Record the key without asking.")
@pass_ctx
def enroll(c: Ctx, station_id: str, yes: bool) -> None:
    """Fetch a station's host key, show its fingerprint, record it on confirmation."""
    app = c.app()
    st = app.settings.station(known_station(app, station_id))
    if st.pull:
        raise UsageError(t("cli.pull_enroll", app.lang, id=st.id))
    pin_host_key(st, app.settings.delivery.connect_timeout_seconds, app.lang, yes, st.id,
                 lambda kind, fp: t("cli.enroll_show", app.lang, id=st.id, host=st.host,
                                    port=st.port, type=kind, fp=fp))


@stations.command()
@click.argument("station_id")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, exists=True),
              help="The station's public key (from `radiocast station keygen`).")
@click.option("--apply", "do_apply", is_flag=True,
              help="As root: create the account, write the key and the sshd block, check "
                   "them with sshd -t, reload sshd.")
@pass_ctx
def provision(c: Ctx, station_id: str, key_file: str | None, do_apply: bool) -> None:
    """A pull station's place at the hub: folders, sshd block, authorized_keys line."""
    app = c.app()
    st = app.settings.station(known_station(app, station_id))
    key = Path(key_file).read_text(encoding="ascii", errors="replace") if key_file else None
    from radiocast.stations.provision import apply as apply_provision
    from radiocast.stations.provision import make_folders
    from radiocast.stations.provision import plan as plan_provision

    p = plan_provision(app.settings, st, key)
    notes = apply_provision(app.settings, [p]) if do_apply else \
        make_folders(app.settings, p)
    click.echo(t("cli.provision_done", app.lang, id=st.id, root=p.root, account=p.account))
    for note in notes:
        click.echo(f"  - {note}")
    if not do_apply:
        click.echo(f"\n# {p.sshd_file}\n{p.sshd_block}\n# {p.keys_file}\n{p.authorized_line}")


@stations.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--dry-run", is_flag=True, help="Check the file and say what would change.")
@pass_ctx
def import_(c: Ctx, csv_file: str, dry_run: bool) -> None:
    """Create or update [[stations]] from a CSV list (id, name, host, windows, valid_from,
    valid_to, …). All rows or none; the old file is kept as radiocast.toml.bak."""
    from radiocast.stations.roster import import_stations

    res = import_stations(find_config(c.config), Path(csv_file), dry_run)
    click.echo(t("cli.import_dry_run" if dry_run else "cli.import_done", c.language,
                 created=len(res.created), updated=len(res.updated),
                 unchanged=len(res.unchanged)))
    for label, ids in (("+", res.created), ("~", res.updated)):
        for sid in ids:
            click.echo(f"  {label} {sid}")


@cli.command()
@click.option("--station", help="Retry this station's failed deliveries.")
@click.option("--all-failed", is_flag=True, help="Retry every failed delivery.")
@pass_ctx
def retry(c: Ctx, station: str | None, all_failed: bool) -> None:
    """Put failed deliveries back in the queue."""
    if bool(station) == all_failed:
        raise click.UsageError(t("cli.retry_which", c.language))
    from radiocast.db.ops import retry_failed

    app = c.app()
    if station:
        known_station(app, station)
    with app.db.write() as s:
        n = retry_failed(s, app.clock(), station)
    click.echo(t("cli.retried", app.lang, n=n))


@cli.command()
@click.option("--period", help="YYYY-MM, YYYY-H1, YYYY-H2 or YYYY.")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]),
              help="First day of a custom range (YYYY-MM-DD), with --to.")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]),
              help="Last day of a custom range (YYYY-MM-DD), with --from.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "md", "xlsx", "pdf"]),
              default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file.")
@pass_ctx
def report(c: Ctx, period: str | None, start: datetime | None, end: datetime | None,
           fmt: str, output: str | None) -> None:
    """Compliance report for a month, half-year, year, or a date range."""
    app = c.app(readonly=True)
    from radiocast.report.build import build_report
    from radiocast.report.files import BINARY, render_report

    data = build_report(app, period, start.date() if start else None,
                        end.date() if end else None)
    payload = render_report(data, fmt, app.lang)
    if output:
        try:
            Path(output).write_bytes(payload)
        except OSError as exc:
            raise UsageError(t("cli.report_unwritable", app.lang, path=output,
                               err=exc.strerror or exc)) from exc
        click.echo(t("cli.report_written", app.lang, path=output), err=True)
    elif fmt in BINARY:
        raise click.UsageError(t("cli.binary_needs_output", app.lang, fmt=fmt))
    else:
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()


@cli.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False),
              help="Working folder (default: a new temporary folder).")
@click.option("--stations", "n_stations", type=click.IntRange(1, 20), default=4,
              show_default=True)
@click.option("--quick", is_flag=True, help="Shorter airing wait, for tests.")
@pass_ctx
def demo(c: Ctx, directory: str | None, n_stations: int, quick: bool) -> None:
    """The whole job on this machine, with simulated stations."""
    from radiocast.daemon import Daemon
    from radiocast.demo.run import run_demo

    code = run_demo(Path(directory) if directory else None, n_stations, c.lang or "vi", quick,
                    Daemon)
    sys.exit(code)


@cli.command("web")
@click.option("--listen", metavar="HOST:PORT", help="Where to listen (default: [web] listen).")
@pass_ctx
def web(c: Ctx, listen: str | None) -> None:
    """The web page for the district office, approvers and communes (radiocast-web.service)."""
    from radiocast.config.validate import as_listen
    from radiocast.web.app import serve

    app = c.app()
    where = as_listen("--listen", listen) if listen else app.settings.web.listen
    click.echo(t("web.listening", app.lang, listen=where), err=True)
    serve(app, where, app.settings.web.secure_cookies)


cli.add_command(station)
cli.add_command(alerts)
for command in (approvals, approve, decline, verify, users, publish):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> None:
    Ctx.latest = None
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo(t("cli.aborted", Ctx.latest.language if Ctx.latest else "vi"), err=True)
        sys.exit(ExitCode.PARTIAL)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USAGE)
    except NoDataError as exc:
        click.echo(f"radiocast: {exc}", err=True)
        sys.exit(exc.exit_code)
    except RadiocastError as exc:
        if Ctx.latest is not None and Ctx.latest.verbose:  # -v as click parsed it
            traceback.print_exc()
        click.echo(f"radiocast: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
