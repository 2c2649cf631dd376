"""Spinal levels and sides shared by the anatomy modules.

``Level`` lists the DRG levels drgsim models (T10-S2: the ganglia targeted for lower-body pain and
the thoracic levels where SCS leads sit); ``DERMATOMES`` lists every dermatome the body atlas may
name, including those outside the modelled levels (S3-S4 of the perineum), so that the planner can
report pain it cannot reach.
"""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """A modelled spinal level, cranial to caudal."""

    T10 = "T10"
    T11 = "T11"
    T12 = "T12"
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    L4 = "L4"
    L5 = "L5"
    S1 = "S1"
    S2 = "S2"

    @property
    def index(self) -> int:
        """Position from cranial (T10 = 0) to caudal (S2 = 9)."""
        return list(Level).index(self)


class Side(StrEnum):
    LEFT = "left"
    RIGHT = "right"


DERMATOMES: tuple[str, ...] = (tuple(f"T{i}" for i in range(1, 13)) + tuple(f"L{i}" for i in range(1, 6))
                               + tuple(f"S{i}" for i in range(1, 6)))


def as_level(value: Level | str) -> Level:
    """``Level`` from a level or its name, with an error that lists the allowed levels."""
    try:
        return Level(value)
    except ValueError:
        raise ValueError(f"unknown level {value!r}; allowed: {', '.join(Level)}") from None
