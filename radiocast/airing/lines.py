"""Reading the lines a station wrote at a cost the hub can bound: one line at a time out of the
bytes (never a list of millions), and a stop after a few unreadable ones. What a station
writes is untrusted; garbage costs its own station a note, never the hub its time or memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


def lines(raw: bytes, tail: bool = True) -> Iterator[tuple[int, bytes]]:
    """(number, line) for every non-blank line. `tail=False` leaves an unterminated last line
    out: its writer may still be writing it, and the next read sees it whole."""
    n, start, size = 0, 0, len(raw)
    while start < size:
        end = raw.find(b"\n", start)
        if end < 0:
            if not tail:
                return
            end = size
        n += 1
        line = raw[start:end]
        start = end + 1
        if line.strip():
            yield n, line


@dataclass
class Parsed(Generic[T]):
    good: list[T] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, why): the first
    bad_total: int = 0
    stopped_at: int | None = None  # the line after which reading stopped, or None

    def note(self, name: str) -> str:
        """One sentence on what was wrong in `name` (for the station's problem)."""
        n, why = self.bad[0]
        more = f"; stopped reading after line {self.stopped_at}" if self.stopped_at else ""
        return f"{name}: {self.bad_total} unreadable line(s), first line {n}: {why}{more}"


def parse_lines(raw: bytes, parse: Callable[[bytes], T], max_bad: int, tail: bool = True,
                stop: bool = True) -> Parsed[T]:
    """Every line through `parse` (which raises ValueError, TypeError, KeyError or
    OverflowError for a bad one). The first `max_bad` bad lines are kept; at the last of them
    reading stops, or, with `stop=False`, goes on counting (a file whose later lines still
    matter)."""
    out: Parsed[T] = Parsed()
    for n, line in lines(raw, tail):
        try:
            out.good.append(parse(line))
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            out.bad_total += 1
            if len(out.bad) < max_bad:
                out.bad.append((n, str(exc)[:200]))
            if stop and out.bad_total >= max_bad:
                out.stopped_at = n
                break
    return out
