"""Stepped parameter ranges: the values a device can actually be set to.

A device parameter (amplitude, pulse width, frequency) is not a real interval but a grid: the DRG
IPG sets amplitude in 25 uA steps below 2 mA and 50 uA steps from 2 to 6 mA (Axium manuals
MN0700 p.20, MN0100 p.4). ``SteppedRange`` holds such a grid as segments and rejects any value
off it with a ``ParameterError`` that names the parameter, the value, the allowed range and step,
and the nearest valid values. Nothing is rounded silently.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

_DECIMALS = 9  # grid values are rounded to 1e-9 of their unit: no float drift from start + k*step


def fmt(value: float) -> str:
    """Short, exact-looking number: 0.825 not 0.8250000001, 6 not 6.0."""
    return f"{round(float(value), 6):g}"


class ParameterError(ValueError):
    """A value a device cannot be set to. Carries what a message or a UI needs to correct it."""

    def __init__(self, name: str, value: float, allowed: str, nearest: list[float], unit: str, why: str):
        self.name, self.value, self.allowed, self.nearest = name, value, allowed, nearest
        self.unit, self.why = unit, why
        near = " and ".join(fmt(v) for v in nearest)
        plural = "values" if len(nearest) > 1 else "value"
        super().__init__(f"{name}={fmt(value)} {unit} {why}; allowed: {allowed}; nearest valid {plural}: {near} {unit}")


class StepSegment(BaseModel):
    """Values start, start + step, ..., stop (both ends included)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: float
    stop: float
    step: float = Field(gt=0)

    @model_validator(mode="after")
    def _whole_steps(self):
        n = (self.stop - self.start) / self.step
        if self.stop < self.start or abs(n - round(n)) > 1e-6:
            raise ValueError(f"segment {self.start}-{self.stop} is not a whole number of {self.step} steps")
        return self


class SteppedRange(BaseModel):
    """A union of stepped segments, e.g. 0-2 mA in 0.025 mA steps and 2-6 mA in 0.05 mA steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segments: list[StepSegment] = Field(min_length=1)
    unit: str

    @cached_property
    def grid(self) -> np.ndarray:
        values = [np.round(s.start + s.step * np.arange(round((s.stop - s.start) / s.step) + 1), _DECIMALS)
                  for s in self.segments]
        return np.unique(np.concatenate(values))

    @property
    def minimum(self) -> float:
        return float(self.grid[0])

    @property
    def maximum(self) -> float:
        return float(self.grid[-1])

    def describe(self) -> str:
        """'0-6 mA, step 0.025 mA from 0 to 2 mA and 0.05 mA from 2 to 6 mA'."""
        head = f"{fmt(self.minimum)}-{fmt(self.maximum)} {self.unit}"
        if len(self.segments) == 1:
            return f"{head}, step {fmt(self.segments[0].step)} {self.unit}"
        steps = " and ".join(f"{fmt(s.step)} {self.unit} from {fmt(s.start)} to {fmt(s.stop)} {self.unit}"
                             for s in self.segments)
        return f"{head}, step {steps}"

    def _index(self, value: float) -> int | None:
        i = int(np.searchsorted(self.grid, value))
        for j in (i - 1, i):
            if 0 <= j < len(self.grid) and abs(self.grid[j] - value) <= 1e-9 * max(1.0, abs(value)):
                return j
        return None

    def contains(self, value: float) -> bool:
        return bool(np.isfinite(value)) and self._index(value) is not None

    def nearest(self, value: float) -> list[float]:
        """The valid value(s) closest to ``value``: both neighbours inside the range, the end outside."""
        if not np.isfinite(value):
            return [self.minimum, self.maximum]
        if value <= self.minimum:
            return [self.minimum]
        if value >= self.maximum:
            return [self.maximum]
        i = int(np.searchsorted(self.grid, value))
        return [float(self.grid[i - 1]), float(self.grid[i])]

    def check(self, value: float, name: str) -> float:
        """Return the grid value equal to ``value`` or raise ParameterError naming ``name``."""
        value = float(value)
        if not np.isfinite(value) or value < self.minimum - 1e-9 or value > self.maximum + 1e-9:
            why = "is outside the allowed range"
        elif (j := self._index(value)) is None:
            why = "is not on the device's step grid"
        else:
            return float(self.grid[j])
        raise ParameterError(name, value, self.describe(), self.nearest(value), self.unit, why)

    def step_from(self, value: float, steps: int) -> float | None:
        """The grid value ``steps`` grid steps above (negative: below) the grid value ``value``, or None."""
        j = self._index(value)
        if j is None:
            raise ValueError(f"{fmt(value)} {self.unit} is not on the grid ({self.describe()})")
        k = j + steps
        return float(self.grid[k]) if 0 <= k < len(self.grid) else None

    def ceil(self, value: float) -> float | None:
        """The smallest grid value >= ``value`` (None when above the range)."""
        i = int(np.searchsorted(self.grid, value - 1e-9 * max(1.0, abs(value))))
        return float(self.grid[i]) if i < len(self.grid) else None

    def floor(self, value: float) -> float | None:
        """The largest grid value <= ``value`` (None when below the range)."""
        i = int(np.searchsorted(self.grid, value + 1e-9 * max(1.0, abs(value)), side="right"))
        return float(self.grid[i - 1]) if i > 0 else None
