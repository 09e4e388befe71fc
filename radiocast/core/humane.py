"""Numbers, times, sizes and ages as people read them, in Vietnamese or English: local time as
`dd/mm HH:MM` (no seconds, no offset), decimal comma in Vietnamese, sizes in MB/GB, ages as
"2 giờ trước"."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from radiocast.core.i18n import t

MB = 1000 * 1000


def num(x: float, lang: str, digits: int = 1) -> str:
    """1234.5 → "1.234,5" (vi) or "1,234.5" (en)."""
    text = f"{x:,.{digits}f}"
    if lang == "vi":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text


def percent(ratio: float, lang: str) -> str:
    """0.8333 → "83,3%" (vi) or "83.3%" (en); a whole number shows no decimals."""
    value = ratio * 100
    return (num(value, lang, 0) if value == round(value) else num(value, lang, 1)) + "%"


def size(n_bytes: int | None, lang: str) -> str:
    if n_bytes is None:
        return ""
    if n_bytes >= 1000 * MB:
        return t("value.gb", lang, n=num(n_bytes / (1000 * MB), lang))
    return t("value.mb", lang, n=num(n_bytes / MB, lang))


def _local(value: datetime | str, tz: ZoneInfo | None) -> datetime:
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return dt.astimezone(tz) if tz is not None else dt  # an ISO text keeps its own offset


def when(value: datetime | str | None, tz: ZoneInfo | None = None, year: bool = False) -> str:
    """Local time as dd/mm HH:MM (dd/mm/yyyy HH:MM with `year`); "" for nothing."""
    if value is None or value == "":
        return ""
    dt = _local(value, tz)
    return f"{dt:%d/%m/%Y %H:%M}" if year else f"{dt:%d/%m %H:%M}"


def age(value: datetime | str | None, now: datetime, lang: str) -> str:
    """How long ago: "vừa xong", "5 phút trước", "2 giờ trước", "3 ngày trước"."""
    if value is None or value == "":
        return ""
    ago = now - _local(value, None)
    if ago < timedelta(minutes=1):
        return t("age.now", lang)
    if ago < timedelta(hours=1):
        return t("age.minutes", lang, n=int(ago / timedelta(minutes=1)))
    if ago < timedelta(days=2):
        return t("age.hours", lang, n=int(ago / timedelta(hours=1)))
    return t("age.days", lang, n=ago.days)


def month_label(month: str) -> str:
    """"2026-11" → "11/2026" (how both languages write a month here)."""
    return f"{month[5:7]}/{month[:4]}"

