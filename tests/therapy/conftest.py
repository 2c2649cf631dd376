"""Therapy fixtures: the default patient at the quick quality (first-order fields, small populations).

The comparison is computed once per session; fields and threshold tables land in the session's cache,
so the CLI tests that follow read them instead of recomputing.
"""

from __future__ import annotations

import pytest

from drgsim.anatomy.patient import default_patient
from drgsim.therapy.compare import compare
from drgsim.therapy.model import QUALITY, TherapyModel, plan_implant


@pytest.fixture(scope="session")
def patient():
    return default_patient()


@pytest.fixture(scope="session")
def drg_model(patient):
    return TherapyModel(patient, plan_implant(patient, "drg"), QUALITY["quick"])


@pytest.fixture(scope="session")
def scs_model(patient):
    return TherapyModel(patient, plan_implant(patient, "scs"), QUALITY["quick"])


@pytest.fixture(scope="session")
def comparison(patient):
    return compare(patient, "quick")


TWO_POSTURES = {"name": "two-postures", "segments": [{"posture": "supine", "minutes": 30},
                                                    {"posture": "standing", "minutes": 30, "transition_s": 3}]}


@pytest.fixture(scope="session")
def drg_day(drg_model, comparison):
    """The compared DRG program through half an hour supine and half an hour standing (``simulate_day``)."""
    from drgsim.therapy.closedloop import Day, simulate_day

    return simulate_day(drg_model, comparison.drg.optimization.program, Day.model_validate(TWO_POSTURES),
                        programming_posture="supine")
