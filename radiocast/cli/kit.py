"""What every command shares: the context (config, language, the app opened on demand), the
--json option and the plain table renderer."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import click

from radiocast.core.errors import ExitCode, UsageError
from radiocast.core.humane import month_label, num, size, when
from radiocast.core.i18n import t, word

if TYPE_CHECKING:  # paramiko is imported only by the commands that talk SSH; SQLAlchemy
    # (with the app) only by those that open the database
    from radiocast.app import App
    from radiocast.config.peek import Glance
    from radiocast.config.settings import Settings
    from radiocast.stations.ssh import Target

F = TypeVar("F", bound=Callable[..., Any])


class Ctx:
    latest: ClassVar[Ctx | None] = None  # the options of the command being run (for `main`)

    def __init__(self, config: str | None, lang: str | None, verbose: int) -> None:
        Ctx.latest = self
        self.config = config
        self.lang = lang
        self.verbose = verbose
        self.station_config: str | None = None
        self._app: App | None = None
        self._settings: Settings | None = None
        self._glance: Glance | None = None

    def settings(self) -> Settings:
        """The configuration, read once (the app, when opened, takes it from here)."""
        if self._settings is None:
            from radiocast.config.peek import find_config
            from radiocast.config.settings import load_settings

            self._settings = load_settings(find_config(self.config))
        return self._settings

    def app(self, readonly: bool = False) -> App:
        """The app; `readonly` for commands that only look (no migration, no write)."""
        if self._app is None:
            from radiocast.app import open_app  # a command that needs no database never pays

            self._app = open_app(self.config, self.lang, readonly=readonly,
                                 settings=self.settings())
        return self._app

    def glance(self) -> Glance | None:
        """The data folder, language and station ids, without reading the whole file."""
        if self._glance is None:
            from radiocast.config.peek import find_config, glance

            self._glance = glance(find_config(self.config))
        return self._glance

    def from_hub(self, view: str, **args: str | None) -> Any | None:
        """The running hub's document for a listing (`radiocast.cli.ask`), or None. The
        configuration is only glanced at: the hub has read it whole."""
        from radiocast.cli.ask import from_hub

        seen = self.glance()
        return None if seen is None else from_hub(
            seen.data_dir, {"view": view, "lang": self.language, **args})

    @property
    def language(self) -> str:
        if self.lang:
            return self.lang
        if self._app:
            return self._app.lang
        if self._settings:
            return self._settings.general.language
        return self._glance.language if self._glance else "vi"


pass_ctx = click.make_pass_decorator(Ctx)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(f)


def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))


SIZE_COLUMNS = frozenset({"bytes_sent", "free_bytes", "size"})


def _formats(lang: str, states: str) -> dict[str, Callable[[Any], str]]:
    """How each kind of column is shown: local times without seconds, sizes in MB, states and
    kinds in words (each word looked up once per table), yes/no in the language."""
    words: dict[tuple[str, Any], str] = {}

    def named(group: str) -> Callable[[Any], str]:
        def show(v: Any) -> str:
            if (group, v) not in words:
                words[(group, v)] = word(group, v, lang)
            return words[(group, v)]
        return show

    return {"state": named(states), "kind": named("kind"), "month": month_label,
            "programme_id": lambda v: f"#{v}",
            "duration_s": lambda v: f"{int(v) // 60}:{int(v) % 60:02d}",
            "output_lufs": lambda v: num(v, lang)}


def _cell(column: str, value: Any, lang: str, formats: dict[str, Callable[[Any], str]]) -> str:
    """One value as people read it. (`--json` prints the raw values.)"""
    if value is None:
        return ""
    if isinstance(value, bool):
        return t("value." + (column if value else "un" + column), lang) \
            if column == "reachable" else t("value.yes" if value else "value.no", lang)
    if column.endswith("_at"):
        return when(value, year=True)
    if column in SIZE_COLUMNS:
        return size(int(value), lang)
    return formats.get(column, str)(value)


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], lang: str,
                 states: str = "") -> None:
    """Rows as aligned columns with headers in `lang`; `states` names the words for the
    "state" column (programme, delivery or airing). Printed in one write."""
    if not rows:
        return
    head = [t(f"col.{c}", lang) for c in columns]
    formats = _formats(lang, states)
    cells = [[_cell(c, r.get(c), lang, formats) for c in columns] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(head)]
    click.echo("\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True))
                         .rstrip() for line in [head, *cells]))


def pin_host_key(target: Target, timeout: float, lang: str, yes: bool, name: str,
                 show: Callable[[str, str], str]) -> None:
    """Fetch the other end's host key, show it (`show(type, fingerprint)`), record it in
    its known_hosts only on confirmation; exit 1 otherwise. Never trusts a key by itself."""
    from radiocast.stations.ssh import fetch_host_key, record_host_key

    key = fetch_host_key(target, timeout)
    click.echo(show(key.get_name(), key.fingerprint))
    if yes or click.confirm(t("cli.enroll_confirm", lang, path=target.known_hosts)):
        record_host_key(target, key)
        click.echo(t("cli.enroll_done", lang, id=name, path=target.known_hosts))
    else:
        click.echo(t("cli.enroll_declined", lang))
        sys.exit(ExitCode.PARTIAL)


MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def month_option(f: F) -> F:
    """--month YYYY-MM, checked by click (a bad value is a usage error, exit 2)."""

    def check(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is not None and not MONTH_RE.match(value):
            obj = ctx.find_object(Ctx)
            lang = obj.language if obj else "vi"
            raise click.BadParameter(t("cli.bad_month", lang, value=repr(value)))
        return value

    return click.option("--month", callback=check, help="Only this month (YYYY-MM).")(f)


def known_station(app: App, station_id: str, history: bool = False) -> str:
    """A station id the command can act on: configured, or (`history`, for listings) known to
    the database from before. Otherwise a usage error (exit 2) that lists the ids."""
    configured = [st.id for st in app.settings.stations]
    if station_id in configured:
        return station_id
    if history:
        from radiocast.db.schema import Station

        with app.db.read() as s:
            if s.get(Station, station_id) is not None:
                return station_id
    shown = ", ".join(configured[:12]) + (" …" if len(configured) > 12 else "")
    raise UsageError(t("cli.unknown_station", app.lang, id=station_id, known=shown or "-"))
