"""The message catalogue: every word radiocast shows people, in Vietnamese (the default) and
English, kept in `locale/vi.toml` and `locale/en.toml` (one file a language, so a translator
works on one file). Keys are dotted paths ("problem.delivery_failing.message"); text uses
`str.format` fields. `tests/test_i18n.py` checks both files hold the same keys and fields and
that Vietnamese text is NFC."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

LANGS = ("vi", "en")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = str(v)
    return out


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every key of one language (a language other than vi/en falls back to vi)."""
    name = lang if lang in LANGS else "vi"
    text = resources.files("radiocast.core").joinpath(f"locale/{name}.toml").read_text("utf-8")
    return _flatten(tomllib.loads(text))


def t(key: str, lang: str = "vi", **kwargs: Any) -> str:
    """The text of `key` in `lang`, with its fields filled in."""
    return catalogue(lang)[key].format(**kwargs)


def word(group: str, value: str | None, lang: str) -> str:
    """A state, kind or other code word in `lang` ("delivery.queued" → "chờ gửi"); an
    unknown value (a newer database than this program) is shown as it is."""
    if value is None:
        return ""
    return catalogue(lang).get(f"{group}.{value}", value)
