"""`radiocast publish`: the programme's site (feed, pages, player, schedules) to each target."""

from __future__ import annotations

import sys

import click

from radiocast.cli.kit import Ctx, emit_json, json_option, pass_ctx
from radiocast.core.errors import ExitCode
from radiocast.core.i18n import t


@click.command("publish")
@click.option("--target", "target_id", metavar="ID", help="Only this [[publish]] target.")
@click.option("--dry-run", is_flag=True, help="Build the site and say what it would hold; "
              "put nothing in place.")
@click.option("--force", is_flag=True, help="Put it in place even if nothing changed.")
@json_option
@pass_ctx
def publish(c: Ctx, target_id: str | None, dry_run: bool, force: bool, as_json: bool) -> None:
    """Build and put in place the site of each [[publish]] target (exit 1 if one failed)."""
    from radiocast.publish.run import publish_all

    app = c.app()
    results = publish_all(app, target_id, dry_run, force)
    if as_json:
        emit_json([r.__dict__ for r in results])
    elif not results:
        click.echo(t("publish.no_targets", app.lang))
    for r in results if not as_json else []:
        key = "publish.failed" if not r.ok else "publish.done" if r.changed else "publish.same"
        click.echo(t(key, app.lang, target=r.target, episodes=r.episodes, airings=r.airings,
                     error=r.error))
    if any(not r.ok for r in results):
        sys.exit(ExitCode.PARTIAL)
