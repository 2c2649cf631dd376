"""Invalid input as readable text, the same in every layer: each problem names the field (as the caller
spells it: a dotted path in files and the API, a ``--flag`` on the command line), the value given and the
constraint it breaks. No drgsim imports, so the lowest layers can use it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import ValidationError

Loc = tuple[str | int, ...]


def dotted(loc: Loc) -> str:
    """``programs.0.leads.1.amplitude_ma``: the path through a document."""
    return ".".join(str(x) for x in loc)


def flag(loc: Loc) -> str:
    """``--pulse-width-us``: the command-line option of the innermost field."""
    return "--" + str(loc[-1]).replace("_", "-")


@dataclass(frozen=True)
class FieldProblem:
    """One broken constraint: the field (empty for a check of the whole input), the value and what is wrong."""

    field: str
    value: Any
    constraint: str

    def __str__(self) -> str:
        return f"{self.field}={self.value!r}: {self.constraint}" if self.field else self.constraint

    @property
    def detail(self) -> str:
        """Beside its field on a form: the constraint and the value."""
        return self.constraint if isinstance(self.value, dict) else f"{self.constraint} (got {self.value!r})"


_LEADING_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)(?=[=:])")


def field_problems(err: ValidationError, name: Callable[[Loc], str] = dotted) -> list[FieldProblem]:
    """The problems of ``err``; ``name`` spells a field's location. A check of the whole input whose
    message starts with the field it concerns (``max_ma=...``) gets that field spelt the same way."""
    out = []
    for e in err.errors():
        text = e["msg"].removeprefix("Value error, ")
        if e["loc"]:
            out.append(FieldProblem(name(e["loc"]), e.get("input"), text))
        else:
            text = _LEADING_NAME.sub(lambda m: name(tuple(m[1].split("."))), text)
            out.append(FieldProblem("", e.get("input"), text))
    return out


def validation_message(err: ValidationError, name: Callable[[Loc], str] = dotted) -> str:
    """All problems of ``err`` on one line."""
    return "; ".join(str(p) for p in field_problems(err, name))
