"""Names: NFC normalisation, Vietnamese → ASCII slugs, month and title from file names."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePath

# A month is taken only from an explicit pattern: 2026-11, 2026_11, 2026.11, or "tháng 11/2026"
# ("thang 11-2026"). "Bản tin 2025 10 điều" names no month.
MONTH_RE = re.compile(r"(?<!\d)(20\d\d)[-_.](0[1-9]|1[0-2])(?!\d)")
THANG_RE = re.compile(r"(?i)(?<!\w)(?:tháng|thang)\s*(0?[1-9]|1[0-2])\s*[-/._]\s*(20\d\d)(?!\d)")
CLUTTER_NAMES = {"thumbs.db", "desktop.ini", ".ds_store"}
CLUTTER_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".download")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def ascii_fold(text: str) -> str:
    """"Chuyển đổi số" → "Chuyen doi so" (đ/Đ have no decomposition, so map them first)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).encode(
        "ascii", "ignore").decode("ascii")


def slugify(text: str, max_len: int = 60) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_fold(text).lower()).strip("-")
    return slug[:max_len].rstrip("-") or "chuong-trinh"


def title_key(title: str) -> str:
    """What makes two titles "the same programme": NFC, case and spacing ignored."""
    return " ".join(nfc(title).casefold().split())


def is_clutter(name: str) -> bool:
    low = name.lower()
    return (name.startswith((".", "~$")) or low in CLUTTER_NAMES
            or low.endswith(CLUTTER_SUFFIXES))


def _month_in(text: str) -> str | None:
    m = MONTH_RE.search(text)
    if m:
        return f"{m.group(1)}-{m.group(2)}"
    m = THANG_RE.search(nfc(text))
    if m:
        return f"{m.group(2)}-{int(m.group(1)):02d}"
    return None


def month_from(path: PurePath, root: PurePath) -> str | None:
    """The month in the file name, else in the nearest folder name below the drop root."""
    found = _month_in(path.stem)
    if found:
        return found
    for parent in path.relative_to(root).parents:
        if parent.name and (found := _month_in(parent.name)):
            return found
    return None


def without_month(text: str) -> str:
    """The text with its month patterns ("2026-11", "tháng 11/2026") blanked."""
    return THANG_RE.sub(" ", MONTH_RE.sub(" ", nfc(text)))


def title_from(path: PurePath | str) -> str:
    """The title in a file name (or a stem): months, empty brackets they leave and edge
    punctuation out; "Chuyển đổi số (bản 2)" keeps its closing parenthesis."""
    stem = without_month(path if isinstance(path, str) else path.stem)
    stem = re.sub(r"[(\[]\s*[)\]]", " ", stem)  # "(2026-11)" → "( )" → gone
    title = re.sub(r"[_\s]+", " ", stem).strip(" -_.")
    title = _unpaired(title)
    return re.sub(r"\s*-\s*$", "", title)


def _unpaired(title: str) -> str:
    """A bracket at an end without its partner is edge punctuation: "(Chuyển đổi số" ."""
    for opening, closing in ("()", "[]"):
        if title.endswith(closing) and opening not in title:
            title = title[:-1].rstrip(" -_.")
        if title.startswith(opening) and closing not in title:
            title = title[1:].lstrip(" -_.")
    return title
