"""`radiocast approvals | approve | decline | verify`: approval before air, and the check that
the record the report rests on is whole (docs/cli.md, "Approval")."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

import click

from radiocast.cli.kit import Ctx, emit_json, json_option, pass_ctx, render_table
from radiocast.core.errors import ExitCode, UsageError
from radiocast.core.humane import age
from radiocast.core.i18n import t

PLAYERS = ("mpg123 -q {file}", "ffplay -nodisp -autoexit -loglevel error {file}")


@click.command("approvals")
@click.option("--play", "play", type=int, metavar="PROGRAMME_ID",
              help="Listen to a waiting programme's normalized file with the local player.")
@click.option("--player", metavar="COMMAND", help="The player ({file} is the file); "
              "default: mpg123, else ffplay.")
@json_option
@pass_ctx
def approvals(c: Ctx, play: int | None, player: str | None, as_json: bool) -> None:
    """What waits for approval: listen, then approve or decline."""
    from radiocast.intake import approval

    app = c.app(readonly=True)
    items = approval.waiting(app)
    if play is not None:
        found = next((w for w in items if w.id == play), None)
        if found is None:
            raise approval.ApprovalRefused(t("approval.not_waiting", app.lang, id=play))
        _play(found.output_path, player, app.lang)
        return
    if as_json:
        emit_json([w.as_json() for w in items])
        return
    if not items:
        click.echo(t("approval.none_waiting", app.lang))
        return
    now = app.clock()
    names = app.settings.languages
    render_table([{"id": w.id, "month": w.month, "language": names.name(w.language),
                   "revision": w.revision, "title": w.title, "duration_s": w.duration_s,
                   "output_lufs": w.output_lufs, "source": w.source_name,
                   "waiting": age(w.waiting_since, now, app.lang),
                   "approvers": ", ".join(w.approvers) or "-", "file": w.output_path}
                  for w in items],
                 ["id", "month", "language", "revision", "title", "duration_s", "output_lufs",
                  "source", "waiting", "approvers", "file"], app.lang, "programme")


def _play(path: str, player: str | None, lang: str) -> None:
    choices = [player] if player else [p for p in PLAYERS if shutil.which(p.split()[0])]
    if not choices:
        raise UsageError(t("approval.no_player", lang))
    argv = [a.replace("{file}", path) for a in shlex.split(choices[0])]
    sys.exit(subprocess.run(argv, check=False).returncode and ExitCode.PARTIAL)


@click.command("approve")
@click.argument("programme_id", type=int)
@click.option("--as", "approver", required=True, metavar="APPROVER_ID",
              help="Your id in [[approvers]].")
@click.option("--comment", default="", help="A comment kept with the decision.")
@pass_ctx
def approve(c: Ctx, programme_id: int, approver: str, comment: str) -> None:
    """Approve a waiting programme: it goes into the stations' schedules."""
    from radiocast.db import approvals as decisions
    from radiocast.intake import approval

    app = c.app()
    done = approval.decide(app, programme_id, approver, decisions.APPROVED, comment)
    click.echo(t("approval.approved" if done else "approval.again", app.lang, id=programme_id))


@click.command("decline")
@click.argument("programme_id", type=int)
@click.option("--as", "approver", required=True, metavar="APPROVER_ID",
              help="Your id in [[approvers]].")
@click.option("--reason", required=True, help="Why: staff read it beside their file.")
@click.option("--station", metavar="STATION_ID",
              help="Refuse it for this commune's station only (a normal programme).")
@pass_ctx
def decline(c: Ctx, programme_id: int, approver: str, reason: str, station: str | None) -> None:
    """Decline a waiting programme (nothing of it airs), or refuse it for one station."""
    from radiocast.db import approvals as decisions
    from radiocast.intake import approval

    app = c.app()
    if not reason.strip():
        raise UsageError(t("approval.reason_needed", app.lang))
    kind = decisions.REFUSED if station else decisions.DECLINED
    done = approval.decide(app, programme_id, approver, kind, reason.strip(), station)
    key = ("approval.refused" if station else "approval.declined") if done else "approval.again"
    click.echo(t(key, app.lang, id=programme_id, station=station or "-"))


@click.command("verify")
@json_option
@pass_ctx
def verify(c: Ctx, as_json: bool) -> None:
    """Check the approval and proof-of-play record is whole (exit 0), or name the first
    entry changed, inserted or removed (exit 1)."""
    from radiocast.db import chain

    app = c.app(readonly=True)
    with app.db.read() as s:
        v = chain.verify(s)
    if as_json:
        emit_json({"whole": v.whole, "entries": v.entries, "head": v.head.digest,
                   "problem": v.problem or None, "before_chain": v.before_chain})
    elif v.whole:
        click.echo(t("verify.whole", app.lang, n=v.entries, head=v.head.short(),
                     before=v.before_chain))
    else:
        click.echo(t("verify.broken", app.lang, problem=v.problem, n=v.entries), err=True)
    if not v.whole:
        sys.exit(ExitCode.PARTIAL)
