"""`[approval]` and `[[approvers]]`: which programmes wait for a leader's approval before they
air, and who may approve them for which stations (docs/configuration.md, "Approval")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from radiocast.core.errors import ConfigError

NEEDS = ("normal", "priority")  # `required` may name these; an emergency has its own key
EMERGENCY_MODES = ("air-then-approve", "approve-first")
DOC_KEYS = ("approval.required", "approval.emergency", "approval.remind_hours", "approvers.id",
            "approvers.name", "approvers.title", "approvers.stations")  # configuration.md
APPROVER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Approver:
    id: str
    name: str
    title: str = ""
    stations: tuple[str, ...] | None = None  # None: every station

    def covers(self, station_ids: list[str] | set[str] | tuple[str, ...]) -> bool:
        """May approve for all of these stations."""
        return self.stations is None or set(station_ids) <= set(self.stations)


@dataclass(frozen=True)
class ApprovalSettings:
    required: tuple[str, ...] = ()  # () = approval off, as before
    emergency: str = "air-then-approve"
    remind_hours: int = 12
    approvers: tuple[Approver, ...] = ()

    @property
    def on(self) -> bool:
        return bool(self.required)

    def needed(self, priority: str) -> bool:
        """Does a programme of this priority wait for (or, an emergency, get) approval?"""
        return priority in self.required or (self.on and priority == "emergency")

    def airs_first(self, priority: str) -> bool:
        """An emergency in "air-then-approve": airs at once, approved afterwards."""
        return priority == "emergency" and self.emergency == "air-then-approve"

    def approver(self, approver_id: str) -> Approver | None:
        return next((a for a in self.approvers if a.id == approver_id), None)

    def approvers_for(self, station_ids: list[str]) -> list[Approver]:
        return [a for a in self.approvers if a.covers(station_ids)]


def parse_approval(section: Mapping[str, Any], approvers: list[Mapping[str, Any]],
                   station_ids: set[str]) -> ApprovalSettings:
    """`[approval]` and `[[approvers]]`, checked: ConfigError naming the key otherwise."""
    _known(section, "approval", {"required", "emergency", "remind_hours"})
    required = section.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ConfigError("approval.required", 'must be a list like ["normal", "priority"]')
    for r in required:
        if r not in NEEDS:
            hint = ' (an emergency follows approval.emergency)' if r == "emergency" else ""
            raise ConfigError("approval.required", f"{r!r} is not one of {list(NEEDS)}{hint}")
    emergency = section.get("emergency", ApprovalSettings.emergency)
    if emergency not in EMERGENCY_MODES:
        raise ConfigError("approval.emergency", f"must be one of {list(EMERGENCY_MODES)}")
    remind = section.get("remind_hours", ApprovalSettings.remind_hours)
    if isinstance(remind, bool) or not isinstance(remind, int) or not 1 <= remind <= 720:
        raise ConfigError("approval.remind_hours", "must be a whole number of hours, 1–720")
    people = tuple(_approver(n, a, station_ids) for n, a in enumerate(approvers))
    if len({a.id for a in people}) != len(people):
        raise ConfigError("approvers", "two [[approvers]] have the same id")
    if required and not people:
        raise ConfigError("approvers", "approval is required but no [[approvers]] is set: "
                          "add at least one, or set approval.required = []")
    return ApprovalSettings(tuple(dict.fromkeys(required)), emergency, remind, people)


def _approver(n: int, a: Mapping[str, Any], station_ids: set[str]) -> Approver:
    where = f"approvers[{n}]"
    if not isinstance(a, Mapping):
        raise ConfigError(where, "must be a table")
    _known(a, where, {"id", "name", "title", "stations"})
    aid, name, title = a.get("id"), a.get("name"), a.get("title", "")
    if not isinstance(aid, str) or not APPROVER_ID.match(aid):
        raise ConfigError(f"{where}.id", "must be a short id: lower-case letters, digits, - . _")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}.name", "must be the approver's full name")
    if not isinstance(title, str):
        raise ConfigError(f"{where}.title", "must be text (the approver's position)")
    stations = a.get("stations", ["all"])
    if not isinstance(stations, list) or not stations or \
            not all(isinstance(s, str) for s in stations):
        raise ConfigError(f"{where}.stations", 'must be ["all"] or a list of station ids')
    if stations == ["all"]:
        return Approver(aid, name.strip(), title.strip())
    unknown = sorted(set(stations) - station_ids)
    if unknown:
        raise ConfigError(f"{where}.stations", f"no station with id {unknown[0]!r}")
    return Approver(aid, name.strip(), title.strip(), tuple(dict.fromkeys(stations)))


def _known(table: Mapping[str, Any], where: str, keys: set[str]) -> None:
    extra = sorted(set(table) - keys)
    if extra:
        raise ConfigError(f"{where}.{extra[0]}" if where else extra[0], "unknown key")
