"""`radiocast users`: the web page's accounts (`radiocast web` itself is in `cli.main`)."""

from __future__ import annotations

import sys

import click

from radiocast.cli.kit import Ctx, emit_json, json_option, pass_ctx, render_table
from radiocast.core.i18n import t


@click.group("users")
def users() -> None:
    """Web accounts: operator (everything), approver (its [[approvers]] stations), station."""


def _password(app_lang: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt(t("web.password_prompt", app_lang), hide_input=True,
                            confirmation_prompt=True))


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["operator", "approver", "station"]), required=True)
@click.option("--approver", "approver_id", metavar="ID",
              help="An [[approvers]] id (role approver).")
@click.option("--stations", metavar="ID,ID", help="The account's stations (role station).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def users_add(c: Ctx, name: str, role: str, approver_id: str | None, stations: str | None,
              password_stdin: bool) -> None:
    """Create an account (the password is asked twice, never shown, never logged)."""
    from radiocast.web import accounts

    app = c.app()
    ids = [s.strip() for s in stations.split(",") if s.strip()] if stations else None
    accounts.add(app, name, role, _password(app.lang, password_stdin), approver_id, ids)
    click.echo(t("web.user_added", app.lang, name=name))


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def users_passwd(c: Ctx, name: str, password_stdin: bool) -> None:
    """Set a new password; the account's sessions end and a lock-out is lifted."""
    from radiocast.web import accounts

    app = c.app()
    accounts.set_password(app, name, _password(app.lang, password_stdin))
    click.echo(t("web.user_changed", app.lang, name=name))


@users.command("disable")
@click.argument("name")
@pass_ctx
def users_disable(c: Ctx, name: str) -> None:
    """Disable an account: it can no longer sign in, and its sessions end."""
    from radiocast.web import accounts

    app = c.app()
    accounts.disable(app, name)
    click.echo(t("web.user_disabled", app.lang, name=name))


@users.command("list")
@json_option
@pass_ctx
def users_list(c: Ctx, as_json: bool) -> None:
    """The accounts, their roles and stations (never a password)."""
    from radiocast.web import accounts

    app = c.app()
    rows = accounts.listing(app)
    if as_json:
        emit_json(rows)
    elif not rows:
        click.echo(t("web.no_users", app.lang))
    else:
        render_table([{**r, "stations": ", ".join(r["stations"] or []) or "-"}  # type: ignore[arg-type]
                      for r in rows], ["name", "role", "approver_id", "stations", "disabled",
                                       "locked_until"], app.lang)
