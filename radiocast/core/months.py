"""Month arithmetic, written once: "YYYY-MM" strings, their days, periods and ranges."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from radiocast.core.errors import UsageError
from radiocast.core.i18n import t

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
PERIOD_RE = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2]|H1|H2))?$")


def month_of(dt: datetime | date) -> str:
    """The month of a date, or of an aware time as it already is (convert to local first)."""
    return f"{dt.year:04d}-{dt.month:02d}"


def local_month(dt: datetime, tz: ZoneInfo) -> str:
    """The month `dt` falls in, in the district's time zone."""
    return month_of(dt.astimezone(tz))


def is_month(text: str) -> bool:
    return MONTH_RE.match(text) is not None


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of a month."""
    first = date.fromisoformat(month + "-01")
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, nxt - timedelta(days=1)


def month_days(month: str) -> list[date]:
    first, last = month_bounds(month)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def previous_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{y - 1}-12" if m == 1 else f"{y}-{m - 1:02d}"


def next_month(month: str) -> str:
    return month_of(month_bounds(month)[1] + timedelta(days=1))


def month_span(first_month: str, last_month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a run of months as aware local times."""
    lo = datetime.combine(month_bounds(first_month)[0], datetime.min.time(), tz)
    hi = datetime.combine(month_bounds(last_month)[1] + timedelta(days=1),
                          datetime.min.time(), tz)
    return lo, hi


def range_months(start: date, end: date, lang: str = "vi") -> list[str]:
    """Every month that a date range touches."""
    if end < start:
        raise UsageError(t("cli.range_order", lang))
    out, cur = [], start.replace(day=1)
    while cur <= end:
        out.append(month_of(cur))
        cur = (cur + timedelta(days=32)).replace(day=1)
    return out


def period_months(period: str, lang: str = "vi") -> list[str]:
    """YYYY-MM, YYYY-H1, YYYY-H2 or YYYY → its months."""
    m = PERIOD_RE.match(period)
    if not m:
        raise UsageError(t("cli.bad_period", lang, value=repr(period)))
    year, part = m.group(1), m.group(2)
    if part is None:
        months = range(1, 13)
    elif part == "H1":
        months = range(1, 7)
    elif part == "H2":
        months = range(7, 13)
    else:
        months = range(int(part), int(part) + 1)
    return [f"{year}-{mm:02d}" for mm in months]


def valid_in(valid_from: date | None, valid_to: date | None, months: list[str]) -> bool:
    """Does a validity interval touch any of these (consecutive) months?"""
    first = month_bounds(months[0])[0]
    last = month_bounds(months[-1])[1]
    return (valid_from is None or valid_from <= last) and (valid_to is None or valid_to >= first)
