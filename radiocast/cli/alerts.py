"""`radiocast alerts test`: a test message to every configured channel, each result shown."""

from __future__ import annotations

import sys

import click

from radiocast.cli.kit import Ctx, pass_ctx
from radiocast.core.errors import ExitCode, UsageError
from radiocast.core.i18n import t


@click.group()
def alerts() -> None:
    """Notifications: [[alerts]] in the configuration (docs/operations.md)."""


@alerts.command("test")
@pass_ctx
def alerts_test(c: Ctx) -> None:
    """Send a test message to each channel and say how each went (exit 1 if one failed)."""
    from radiocast.alerting.send import apprise_notify, scheme

    app = c.app(readonly=True)
    channels = app.settings.alerts
    if not channels:
        raise UsageError(t("alert.no_channels", app.lang))
    failed = 0
    for ch in channels:
        lang = ch.language or app.lang
        ok, err = apprise_notify(ch.url, t("alert.test_title", lang),
                                 t("alert.test_body", lang, sender=app.settings.general.sender,
                                   channel=ch.name), lang)
        click.echo(t("alert.test_ok" if ok else "alert.test_fail", app.lang, channel=ch.name,
                     scheme=scheme(ch.url), err=err))
        failed += not ok
    if failed:
        sys.exit(ExitCode.PARTIAL)
