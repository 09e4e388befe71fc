"""What every command shares: the context (config, language, the app opened on demand), the
--json option and the plain table renderer."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from radiocast.app import App, open_app
from radiocast.errors import ExitCode
from radiocast.i18n import t

if TYPE_CHECKING:  # paramiko is imported only by the commands that talk SSH
    from radiocast.stations.ssh import Target

F = TypeVar("F", bound=Callable[..., Any])


class Ctx:
    def __init__(self, config: str | None, lang: str | None, verbose: int) -> None:
        self.config = config
        self.lang = lang
        self.verbose = verbose
        self.station_config: str | None = None
        self._app: App | None = None

    def app(self, readonly: bool = False) -> App:
        """The app; `readonly` for commands that only look (no migration, no write)."""
        if self._app is None:
            self._app = open_app(self.config, self.lang, readonly=readonly)
        return self._app

    @property
    def language(self) -> str:
        if self.lang:
            return self.lang
        return self._app.lang if self._app else "vi"


pass_ctx = click.make_pass_decorator(Ctx)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(f)


def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        return
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def pin_host_key(target: Target, timeout: float, lang: str, yes: bool, name: str,
                 show: Callable[[str, str], str]) -> None:
    """Fetch the other end's host key, show it (`show(type, fingerprint)`), record it in
    its known_hosts only on confirmation; exit 1 otherwise. Never trusts a key by itself."""
    from radiocast.stations.ssh import fetch_host_key, record_host_key

    key = fetch_host_key(target, timeout)
    click.echo(show(key.get_name(), key.fingerprint))
    if yes or click.confirm(t("enroll_confirm", lang, path=target.known_hosts)):
        record_host_key(target, key)
        click.echo(t("enroll_done", lang, id=name, path=target.known_hosts))
    else:
        click.echo(t("enroll_declined", lang))
        sys.exit(ExitCode.PARTIAL)
