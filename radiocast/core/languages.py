"""Language versions: which languages radiocast knows, how staff name them, and the tag in a
file name that says which version a file is ("2026-12 Chuyển đổi số [thai].mp3").

Codes are ISO 639: two letters where there are (`vi`), ISO 639-3 otherwise (`blt` Tai Dam,
`mtq` Mường). A tag is matched on its code, its name or an alias, ignoring case and accents,
so "[Thái]", "[thai]" and "[blt]" are one language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from radiocast.core.errors import ConfigError
from radiocast.core.naming import ascii_fold, nfc

VIETNAMESE = "vi"
CODE_RE = re.compile(r"^[a-z]{2,3}$")
# a "[...]" at the end (or the start) of a file's stem, its month left out: the language
TAG_RE = re.compile(r"\s*\[([^\[\]]{1,40})\]\s*$")
LEAD_TAG_RE = re.compile(r"^\s*\[([^\[\]]{1,40})\]\s*")
BRACKETS_RE = re.compile(r"\[([^\[\]]{1,40})\]")
# "(Tiếng Thái)" at the end counts as a tag only when it names a language; "(bản 2)" is title
PAREN_TAG_RE = re.compile(r"\s*\(([^()]{1,40})\)\s*$")
PARENS_RE = re.compile(r"\(([^()]{1,40})\)")


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    aliases: tuple[str, ...] = ()


DEFAULTS: tuple[Language, ...] = (
    Language("vi", "Tiếng Việt", ("viet", "tieng viet", "kinh", "vietnamese", "vie", "vn")),
    Language("blt", "Tiếng Thái (Thái Đen)", ("thai", "thai den", "tieng thai", "tai dam")),
    Language("mtq", "Tiếng Mường", ("muong", "tieng muong")),
    Language("tyz", "Tiếng Tày", ("tay", "tieng tay")),
    Language("hmn", "Tiếng Mông", ("mong", "hmong", "h'mong", "tieng mong")),
)


def fold(text: str) -> str:
    """How a tag is compared: NFC, accents and case dropped, spacing collapsed."""
    return " ".join(ascii_fold(nfc(text)).casefold().split())


@dataclass(frozen=True)
class Languages:
    """The languages a hub knows (`[languages]` over the defaults)."""

    known: tuple[Language, ...] = DEFAULTS

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(lang.code for lang in self.known)

    def resolve(self, text: str) -> str | None:
        """The code a tag, code, name or alias names; None when it names none.

        Exact words first; then, when exactly one language fits, the words without "tiếng"
        and a name's parts ("Tiếng Thái (Thái Đen)": "thai", "thai den"), so "[Tiếng Thái
        Đen]" and "[tiếng Mường]" work without an alias for each spelling."""
        want = fold(text)
        for lang in self.known:
            if want in _exact(lang):
                return lang.code
        loose = _loose(want)
        fits = [lang.code for lang in self.known if loose & _loose_words(lang)]
        return fits[0] if len(fits) == 1 else None

    def name(self, code: str) -> str:
        return next((lang.name for lang in self.known if lang.code == code), code)

    def tag(self, code: str) -> str:
        """The tag staff write in a file name for `code` (its first alias: "thai" for blt)."""
        lang = next((lang for lang in self.known if lang.code == code), None)
        return lang.aliases[0] if lang is not None and lang.aliases else code

    def tags(self) -> str:
        """What staff may write, for a note: "[vi] Tiếng Việt, [thai] Tiếng Thái …"."""
        return ", ".join(f"[{lang.aliases[0] if lang.aliases else lang.code}] {lang.name}"
                         for lang in self.known)


def _exact(lang: Language) -> set[str]:
    return {lang.code, fold(lang.name), *(fold(a) for a in lang.aliases)}


def _loose(word: str) -> set[str]:
    """A folded word without a leading "tieng", and its parts outside and inside brackets."""
    parts = {word, re.sub(r"\([^()]*\)", " ", word), *re.findall(r"\(([^()]*)\)", word)}
    out = {" ".join(p.split()) for p in parts}
    out |= {p[len("tieng "):] for p in out if p.startswith("tieng ")}
    return {p for p in out if p}


def _loose_words(lang: Language) -> set[str]:
    return set().union(*(_loose(w) for w in _exact(lang)))


def split_tag(stem: str, languages: Languages | None = None) -> tuple[str, str | None]:
    """("Chuyển đổi số [thai]") → ("Chuyển đổi số", "thai"); a tag may also lead:
    ("[thai] Chuyển đổi số"); with `languages`, a trailing "(Tiếng Thái)" that names one is a
    tag too. The month is taken out of the stem before (naming)."""
    stem = re.sub(r"[(\[]\s*[)\]]", " ", stem)  # "[2026-11]" without its month: no tag
    m = TAG_RE.search(stem)
    if m is not None:
        return stem[:m.start()], m.group(1).strip()
    m = LEAD_TAG_RE.match(stem)
    if m is not None:
        return stem[m.end():], m.group(1).strip()
    m = PAREN_TAG_RE.search(stem)
    if m is not None and languages is not None and languages.resolve(m.group(1)) is not None:
        return stem[:m.start()], m.group(1).strip()
    return stem, None


def other_tags(text: str, languages: Languages) -> list[str]:
    """Bracketed (or parenthesised) words left in a title that name a language: a second
    tag."""
    return [g for g in (*BRACKETS_RE.findall(text), *PARENS_RE.findall(text))
            if languages.resolve(g) is not None]


def parse_languages(key: str, table: Mapping[str, Any]) -> Languages:
    """`[languages]`: `code = "Name"` or `code = { name = "…", aliases = ["…"] }`; each adds
    to (or replaces) the defaults."""
    known = {lang.code: lang for lang in DEFAULTS}
    for code, value in table.items():
        here = f"{key}.{code}"
        if not CODE_RE.match(code):
            raise ConfigError(here, "must be an ISO 639 code: two or three lowercase letters")
        known[code] = _language(here, code, value)
    out = Languages(tuple(known.values()))
    _no_clash(key, out.known)
    return out


def _language(key: str, code: str, value: Any) -> Language:
    if isinstance(value, str) and value.strip():
        return Language(code, nfc(value.strip()))
    if not isinstance(value, dict) or set(value) - {"name", "aliases"}:
        raise ConfigError(key, 'must be a name, or { name = "…", aliases = ["…"] }')
    name, aliases = value.get("name"), value.get("aliases", [])
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{key}.name", "must be a non-empty name")
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip()
                                                for a in aliases):
        raise ConfigError(f"{key}.aliases", "must be a list of names")
    return Language(code, nfc(name.strip()), tuple(nfc(a.strip()) for a in aliases))


def _no_clash(key: str, known: Iterable[Language]) -> None:
    owner: dict[str, str] = {}
    for lang in known:
        for word in _exact(lang):
            if owner.setdefault(word, lang.code) != lang.code:
                raise ConfigError(f"{key}.{lang.code}",
                                  f"{word!r} already names {owner[word]!r}")


def as_station_languages(known: Languages) -> Any:
    """A station's `languages`: known codes (or names), Vietnamese-first order kept."""
    def conv(key: str, v: Any) -> tuple[str, ...]:
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise ConfigError(key, 'must be a non-empty list of language codes, like ["vi", '
                              '"blt"]')
        out: list[str] = []
        for x in v:
            code = known.resolve(x)
            if code is None:
                raise ConfigError(key, f"unknown language {x!r}; known: "
                                  f"{', '.join(known.codes)} (add it under [languages])")
            if code not in out:
                out.append(code)
        return tuple(out)

    return conv
