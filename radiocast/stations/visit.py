"""One connection per station per round: a `Visit` opens the station's link on first use and
every step of the round (deliveries, inventory, playbook, as-run, exit statuses) shares it.

A connection costs a TCP handshake, a key exchange, host-key verification and authentication:
on a 3G link that is seconds, on a hub with hundreds of stations it is most of the CPU.
Steps take an optional `visit`; without one they open and close a link of their own (the CLI,
single commands). A failed connect is kept, so the other steps of the round fail at once
with the same error instead of each dialling a dead station again.

The visit does not know the kinds of link: whoever creates it passes the opener (an SFTP
`StationLink`, or the `OutboxLink` of a station behind NAT).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from radiocast.core.errors import DeliveryError

log = logging.getLogger(__name__)
L = TypeVar("L", bound=AbstractContextManager[Any])

class Handshakes:
    """Opening a connection is mostly CPU work on a good link (key exchange, signatures, the
    first packets): the process opens at most `slots` at once, so a hundred stations served
    together do not become a hundred handshakes competing for two cores and for Python's
    interpreter lock. But a dead or slow link can hold a slot for the whole connect timeout:
    when no slot has come free for `stuck_after` seconds, a newcomer goes ahead without one,
    so dead stations never delay a healthy one by more than that."""

    def __init__(self, slots: int, stuck_after: float = 1.0) -> None:
        self.free = slots
        self.stuck_after = stuck_after
        self.moved = time.monotonic()  # when a slot was last taken while full, or freed
        self.cond = threading.Condition()

    def acquire(self) -> bool:
        """True with a slot (give it back with `release`), False when going ahead without."""
        with self.cond:
            while self.free == 0:
                idle = time.monotonic() - self.moved
                if idle >= self.stuck_after:
                    return False
                self.cond.wait(self.stuck_after - idle)
            self.free -= 1
            if self.free == 0:
                self.moved = time.monotonic()
            return True

    def release(self) -> None:
        with self.cond:
            self.free += 1
            self.moved = time.monotonic()
            self.cond.notify()


HANDSHAKES = Handshakes(max(2, 2 * (os.cpu_count() or 1)))


class Visit(Generic[L]):
    """A station's link for one round, opened on first use, closed by `close()`."""

    def __init__(self, opener: Callable[[], L]) -> None:
        self.opener = opener
        self.link: L | None = None
        self.failure: DeliveryError | None = None
        self.lock = threading.Lock()  # a round may dial ahead while a step asks for the link

    def get(self) -> L:
        with self.lock:
            if self.failure is not None:
                raise self.failure
            if self.link is None:
                link = self.opener()
                slot = HANDSHAKES.acquire()
                try:
                    link.__enter__()
                except DeliveryError as exc:
                    self.failure = exc
                    raise
                finally:
                    if slot:
                        HANDSHAKES.release()
                self.link = link
            return self.link

    def close(self) -> None:
        with self.lock:
            if self.link is not None:
                self.link.__exit__(None, None, None)
                self.link = None

    def __enter__(self) -> Visit[L]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Visits(Generic[L]):
    """A round's visits to many stations and the threads that make them (`run --once`); a
    context manager that closes every link on the way out.

    A cold round first normalizes the new programme: minutes of ffmpeg for a long one, while
    the stations wait. `dial_ahead` opens their links meanwhile, on the round's threads, so
    the deliveries start on links that are up. A station that cannot be reached keeps its
    error in its visit, and its delivery fails with it as it would have: one dial per round."""

    def __init__(self, openers: Mapping[str, Callable[[], L]], threads: int = 64) -> None:
        self.visits = {sid: Visit(opener) for sid, opener in openers.items()}
        self.pool = ThreadPoolExecutor(max(1, min(threads, len(self.visits))),
                                       thread_name_prefix="radiocast-round")

    def __getitem__(self, sid: str) -> Visit[L]:
        return self.visits[sid]

    def dial_ahead(self, stop: threading.Event, sids: Iterable[str]) -> None:
        """Open these stations' links in the background (the others open when first used)."""
        for sid in sids:
            if sid in self.visits:
                self.pool.submit(_dial, self.visits[sid], stop)

    def each(self, step: Callable[[str], int], sids: list[str]) -> int:
        """`step` for each station on the round's threads; the sum of what they return. A
        bug or a database error at one station is logged and counted as 1: the rest go on."""
        def one(sid: str) -> int:
            try:
                return step(sid)
            except Exception:
                log.exception("%s: station round failed; the other stations go on", sid)
                return 1
        return sum(self.pool.map(one, sids))

    def __enter__(self) -> Visits[L]:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            list(self.pool.map(Visit.close, self.visits.values()))
        finally:
            self.pool.shutdown()


def _dial(visit: Visit[L], stop: threading.Event) -> None:
    if stop.is_set():
        return
    try:
        visit.get()
    except DeliveryError:
        pass  # kept by the visit: the station's delivery reports it
    except Exception:
        log.exception("dialling a station ahead failed; its delivery dials again")


@contextlib.contextmanager
def link_for(visit: Visit[L] | None, opener: Callable[[], L]) -> Iterator[L]:
    """The round's shared link when there is a visit (left open), else a link of its own."""
    if visit is not None:
        yield visit.get()
        return
    with opener() as link:
        yield link


@dataclass
class Needs:
    """What one visit to a station has to do."""

    deliver: bool = False
    inventory: bool = False
    publish: bool = False
    outcome: bool = False

    def __bool__(self) -> bool:
        return self.deliver or self.inventory or self.publish or self.outcome
