"""Append-only event log: every device action, accepted or rejected (who, when, what, before/after).

Events are frozen and chained by SHA-256 digests (each event's digest covers the previous one), so
``EventLog.verify`` detects any edit, removal or reordering of a stored or exported log. The log
object offers no way to remove or replace an event.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field

GENESIS = "0" * 64


class Actor(BaseModel):
    """Who acted: the patient (controller), a clinician (programmer) or the device itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["patient", "clinician", "system"]
    name: str = Field(min_length=1)


class Event(BaseModel):
    """One action. A rejected action has ``accepted`` False, a ``reason`` and no changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=0)
    time: datetime
    device: str
    actor: Actor
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    accepted: bool
    reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    before: dict[str, Any] = Field(default_factory=dict)  # changed state paths -> old value
    after: dict[str, Any] = Field(default_factory=dict)  # changed state paths -> new value
    prev_digest: str = GENESIS
    digest: str = ""

    def compute_digest(self) -> str:
        body = self.model_dump(mode="json", exclude={"digest"})
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}, 'c': [2]} -> {'a.b': 1, 'c.0': 2}; empty containers are kept as leaves."""
    if isinstance(value, dict) and value:
        out = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return {prefix: value}


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The paths whose values differ, with their old and new values (None where absent)."""
    fb, fa = flatten(before), flatten(after)
    keys = sorted(k for k in fb.keys() | fa.keys() if fb.get(k, None) != fa.get(k, None) or (k in fb) != (k in fa))
    return {k: fb.get(k) for k in keys}, {k: fa.get(k) for k in keys}


class EventLog:
    """Append-only sequence of events; ``after`` continues a stored log after its last event (its seq and
    digest), so a device restored from storage keeps one chain."""

    def __init__(self, after: Event | None = None) -> None:
        self._events: list[Event] = []
        self._base_seq = 0 if after is None else after.seq + 1
        self._base_digest = GENESIS if after is None else after.digest

    def append(self, *, time: datetime, device: str, actor: Actor, action: str, params: dict[str, Any],
               accepted: bool, reason: str | None = None, warnings: list[str] | None = None,
               before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> Event:
        prev = self._events[-1].digest if self._events else self._base_digest
        event = Event(seq=self._base_seq + len(self._events), time=time, device=device, actor=actor, action=action,
                      params=json.loads(json.dumps(params, default=str)), accepted=accepted, reason=reason,
                      warnings=list(warnings or []), before=dict(before or {}), after=dict(after or {}),
                      prev_digest=prev)
        event = event.model_copy(update={"digest": event.compute_digest()})
        self._events.append(event)
        return event

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(tuple(self._events))

    def __getitem__(self, i: int) -> Event:
        return self._events[i]

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(self._events)

    def verify(self) -> bool:
        """True when the digest chain is intact."""
        prev = self._base_digest
        for i, e in enumerate(self._events, start=self._base_seq):
            if e.seq != i or e.prev_digest != prev or e.compute_digest() != e.digest:
                return False
            prev = e.digest
        return True

    def to_jsonl(self) -> str:
        return "".join(e.model_dump_json() + "\n" for e in self._events)

    @classmethod
    def from_jsonl(cls, text: str) -> "EventLog":
        """Load an exported log; raises ValueError when its chain is broken."""
        log = cls()
        log._events = [Event.model_validate_json(line) for line in text.splitlines() if line.strip()]
        if not log.verify():
            raise ValueError("event log digest chain is broken (edited, removed or reordered events)")
        return log
