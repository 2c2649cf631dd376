"""The one formatter of invalid input: field (dotted path or --flag), value and constraint."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError, model_validator

from drgsim.errors import dotted, field_problems, flag, validation_message


class Inner(BaseModel):
    amplitude_ma: float = Field(ge=0, le=6)


class Outer(BaseModel):
    leads: dict[int, Inner]
    pulse_width_us: float = Field(gt=0)

    @model_validator(mode="after")
    def _fits(self):
        if self.pulse_width_us > 500:
            raise ValueError(f"pulse_width_us={self.pulse_width_us:g}: allowed at most 500 with these leads")
        return self


def _err(**data) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        Outer(**data)
    return info.value


def test_each_problem_names_field_value_and_constraint():
    err = _err(leads={1: {"amplitude_ma": 7}}, pulse_width_us=-1)
    assert [(p.field, p.value) for p in field_problems(err)] == [("leads.1.amplitude_ma", 7), ("pulse_width_us", -1)]
    text = validation_message(err)
    assert "leads.1.amplitude_ma=7: Input should be less than or equal to 6" in text
    assert "pulse_width_us=-1: Input should be greater than 0" in text


def test_flags_name_the_innermost_field_also_in_checks_of_the_whole_input():
    assert flag(("leads", 1, "amplitude_ma")) == "--amplitude-ma" and dotted(("leads", 1, "x")) == "leads.1.x"
    text = validation_message(_err(leads={}, pulse_width_us=600), flag)
    assert text == "--pulse-width-us=600: allowed at most 500 with these leads"
    problem = field_problems(_err(leads={}, pulse_width_us=600))[0]
    assert problem.field == "" and problem.detail == str(problem)  # beside a form: the whole input is no value
