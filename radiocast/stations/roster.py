"""`radiocast stations import FILE.csv`: create or update `[[stations]]` entries from the list
of communes a province keeps, in the configuration file itself, comments and layout kept.

The CSV has a header row. `id` is required; the other columns are optional and any subset may
be given: `name`, `host`, `windows` ("06:00-06:45; 17:30-18:15"), `valid_from`, `valid_to`
(2025-07-01), `port`, `user`, `transfer`, `playout`, `remote_dir`, `languages` ("vi; blt").
A row whose id exists updates that station; a new id adds one. An empty cell leaves the key
as it is (a new station takes `[station_defaults]`); a cell holding only "-" removes the key.
UTF-8 with or without a byte-order mark (as spreadsheet programs save it); comma, semicolon or
tab separated.

All or nothing: every cell is checked, then the whole resulting configuration is parsed as
`radiocast check` would; only then is the file replaced (atomically, the old one kept as
`radiocast.toml.bak`). An error names the CSV row and column.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from radiocast.config.settings import parse_settings
from radiocast.config.validate import (
    as_choice,
    as_date,
    as_int_range,
    as_nonempty,
    as_remote_dir,
    as_slots,
    as_slug,
)
from radiocast.core.errors import ConfigError, UsageError
from radiocast.core.fsutil import atomic_write
from radiocast.core.naming import nfc

MAX_CSV_BYTES = 8 << 20
REMOVE = "-"


def _windows(key: str, v: str) -> list[str]:
    items = [w.strip() for w in re.split(r"[;,]", v) if w.strip()]
    as_slots(key, items)
    return items


def _languages(key: str, v: str) -> list[str]:
    """"vi; blt": checked against `[languages]` when the whole file is parsed."""
    items = [x.strip() for x in re.split(r"[;,]", v) if x.strip()]
    if not items:
        raise ConfigError(key, 'must list language codes, like "vi; blt"')
    return items


def _date(key: str, v: str) -> str:
    return as_date(key, v).isoformat()


def _port(key: str, v: str) -> int:
    try:
        return as_int_range(1, 65535)(key, int(v))
    except ValueError:
        raise ConfigError(key, f"must be a port number, got {v!r}") from None


# CSV column → (TOML key, converter from the cell's text to the TOML value)
COLUMNS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "id": ("id", as_slug),
    "name": ("name", as_nonempty),
    "host": ("host", as_nonempty),
    "windows": ("slots", _windows),
    "valid_from": ("valid_from", _date),
    "valid_to": ("valid_to", _date),
    "port": ("port", _port),
    "user": ("user", as_nonempty),
    "transfer": ("transfer", as_choice("push", "pull")),
    "playout": ("playout", as_choice("ssh-command", "playbook", "agent")),
    "remote_dir": ("remote_dir", as_remote_dir),
    "languages": ("languages", _languages),
}
KEY_TO_COLUMN = {key: col for col, (key, _) in COLUMNS.items()}


class RosterError(UsageError):
    """A CSV row that cannot be imported; nothing was written."""

    def __init__(self, row: int, column: str, problem: str) -> None:
        self.row = row
        self.column = column
        super().__init__(f"row {row}, column {column!r}: {problem}" if column
                         else f"row {row}: {problem}")


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def import_stations(config_path: Path, csv_path: Path, dry_run: bool = False) -> ImportResult:
    """Merge the CSV's stations into `config_path`; returns what changed (by id)."""
    rows = read_rows(csv_path)
    text = config_path.read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    aot = doc.get("stations")
    if aot is None:
        aot = tomlkit.aot()
        doc.append("stations", aot)
    if not isinstance(aot, AoT):
        raise ConfigError("stations", "must be an array of tables ([[stations]])")
    index = {str(t.get("id")): n for n, t in enumerate(aot)}
    origin: dict[int, int] = {}  # station index → CSV row
    result = ImportResult()
    seen: dict[str, int] = {}
    for rownum, values in rows:
        sid = values["id"]
        if sid in seen:
            raise RosterError(rownum, "id", f"{sid!r} is also on row {seen[sid]}")
        seen[sid] = rownum
        if sid in index:
            changed = _update(aot[index[sid]], values)
            (result.updated if changed else result.unchanged).append(sid)
        else:
            table = tomlkit.table()
            _update(table, values)
            aot.append(table)
            index[sid] = len(aot) - 1
            result.created.append(sid)
        origin[index[sid]] = rownum
    _check_whole(doc, config_path, origin)
    if not dry_run and (result.created or result.updated):
        _replace(config_path, text, tomlkit.dumps(doc))
    return result


def read_rows(csv_path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(row number as a spreadsheet shows it, {column: converted value or REMOVE})."""
    raw = csv_path.read_bytes()[: MAX_CSV_BYTES + 1]
    if len(raw) > MAX_CSV_BYTES:
        raise UsageError(f"{csv_path}: larger than {MAX_CSV_BYTES >> 20} MB")
    try:
        text = nfc(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UsageError(f"{csv_path}: not UTF-8 text (save the sheet as "
                         "\"CSV UTF-8\")") from None
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    if "id" not in header:
        raise RosterError(1, "", f"the header row needs an 'id' column (found: "
                          f"{', '.join(header) or 'nothing'})")
    for h in header:
        if h not in COLUMNS:
            raise RosterError(1, h, f"unknown column; known: {', '.join(COLUMNS)}")
    rows = []
    for rownum, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            raise RosterError(rownum, "", f"{len(cells)} cells for {len(header)} columns")
        rows.append((rownum, _convert(rownum, dict(zip(header, cells, strict=False)))))
    return rows


def _convert(rownum: int, cells: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col, cell in cells.items():
        value = cell.strip()
        if not value:
            if col == "id":
                raise RosterError(rownum, col, "is empty")
            continue
        if value == REMOVE and col != "id":
            out[col] = REMOVE
            continue
        try:
            out[col] = COLUMNS[col][1](col, value)
        except ConfigError as exc:
            raise RosterError(rownum, col, exc.problem) from None
    return out


def _update(table: Table, values: dict[str, Any]) -> bool:
    changed = False
    for col, value in values.items():
        key = COLUMNS[col][0]
        if value == REMOVE:
            if key in table:
                del table[key]
                changed = True
        elif table.get(key) != value:
            table[key] = value
            changed = True
    return changed


def _check_whole(doc: tomlkit.TOMLDocument, config_path: Path, origin: dict[int, int]) -> None:
    try:
        parse_settings(doc.unwrap(), base_dir=config_path.resolve().parent, path=config_path)
    except ConfigError as exc:
        m = re.match(r"stations\[(\d+)\]\.?([a-z_]*)", exc.key)
        if m and int(m.group(1)) in origin:
            raise RosterError(origin[int(m.group(1))], KEY_TO_COLUMN.get(m.group(2), m.group(2)),
                              exc.problem) from None
        raise


def _replace(path: Path, old: str, new: str) -> None:
    backup = path.with_name(path.name + ".bak")  # keeps the file's mode: it holds its secrets
    atomic_write(backup, old.encode("utf-8"), mode=path.stat().st_mode & 0o7777)
    tmp = path.with_name(f".{path.name}.import")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(new)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)
