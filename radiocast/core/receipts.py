"""The notes staff find beside their files: a receipt, a rejection (what is wrong, what to
do) or a duplicate note. Vietnamese first, English below; the words are the catalogue's
(`note.*`, `reason.*`). `core.fsutil.note_bytes` writes them with a BOM and CRLF for Notepad."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from radiocast.core.i18n import catalogue, t

RULE = "\n----\n"


def _known(code: str) -> str:
    return code if f"reason.{code}.what" in catalogue("vi") else "internal"


def reason_text(code: str, lang: str = "vi", limits: Mapping[str, Any] | None = None) -> str:
    """One line for the programme row and the CLI: what is wrong."""
    return t(f"reason.{_known(code)}.what", lang, **_limits(limits))


def _limits(limits: Mapping[str, Any] | None) -> dict[str, Any]:
    """The configured limits a reason may quote (a reason without them shows "…")."""
    out: dict[str, Any] = {"min_seconds": "…", "window_minutes": "…"}
    out.update(limits or {})
    return out


def _bilingual(make: Callable[[str], str]) -> str:
    """Vietnamese, a rule, then English (for the technician who reads English)."""
    return make("vi").strip() + "\n" + RULE + make("en").strip() + "\n"


def _at(at: datetime) -> str:
    return f"{at:%d/%m/%Y %H:%M}"


def rejection_note(name: str, code: str, detail: str, at: datetime,
                   limits: Mapping[str, Any] | None = None, version: str = "-") -> str:
    """`version`: the language version the file is, by its name ("-" when not known)."""
    code = _known(code)
    return _bilingual(lambda lang: t(
        "note.rejected", lang, name=name, at=_at(at), what=reason_text(code, lang, limits),
        todo=t(f"reason.{code}.todo", lang), detail=detail or "-", version=version))


def acceptance_note(name: str, title: str, month: str, duration_s: float | None,
                    at: datetime, programme_id: int, revision: int,
                    version: str = "-") -> str:
    def make(lang: str) -> str:
        dur = t("value.minutes_seconds", lang, m=int(duration_s // 60),
                s=int(duration_s % 60)) if duration_s else "-"
        # revision 2 is the first correction of the programme
        rev = t("note.revision", lang, n=revision - 1) if revision > 1 else ""
        return t("note.accepted", lang, name=name, at=_at(at), title=title, revision=rev,
                 month=f"{month[5:7]}/{month[:4]}", duration=dur, id=programme_id,
                 version=version)

    return _bilingual(make)


def duplicate_note(name: str, programme_id: int, title: str, at: datetime) -> str:
    return _bilingual(lambda lang: t("note.duplicate", lang, name=name, at=_at(at),
                                     id=programme_id, title=title))
