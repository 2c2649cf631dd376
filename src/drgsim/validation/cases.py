"""One validation case: what was compared with what, how close it had to be, and whether it was.

Categories follow ASME V&V 40 (2018): ``code verification`` (the solver against an exact or
independent numerical answer to the same equations: NEURON, analytic fields), ``calculation
verification`` (discretisation: mesh, time step, search tolerance) and ``validation`` (the model
against published measurements and models of the real system).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

Category = Literal["code verification", "calculation verification", "validation"]
# relative: |value - reference| <= tolerance * |reference|; absolute: |value - reference| <= tolerance;
# at_least / at_most: value >= reference (or <=), the reference being a bound.
ToleranceKind = Literal["relative", "absolute", "at_least", "at_most"]


class ValidationCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    category: Category
    source: str
    reference: float
    value: float
    unit: str
    rel_error: float | None  # (value - reference) / |reference|; None where the reference is 0
    tolerance: float
    tolerance_kind: ToleranceKind
    passed: bool
    note: str = ""


def case(name: str, category: Category, source: str, reference: float, value: float, unit: str, tolerance: float,
         kind: ToleranceKind = "relative", note: str = "") -> ValidationCase:
    """A case with its relative error and verdict computed."""
    reference, value = float(reference), float(value)
    rel = (value - reference) / abs(reference) if reference != 0 and math.isfinite(value) else None
    if kind in ("relative", "absolute") and not math.isfinite(value):
        passed = False
    elif kind == "relative":
        passed = abs(value - reference) <= tolerance * abs(reference)
    elif kind == "absolute":
        passed = abs(value - reference) <= tolerance
    elif kind == "at_least":
        passed = value >= reference
    else:
        passed = value <= reference
    return ValidationCase(name=name, category=category, source=source, reference=reference, value=value, unit=unit,
                          rel_error=rel, tolerance=tolerance, tolerance_kind=kind, passed=passed, note=note)
