"""The cell-model registry: the shipped models with their sources, and a new model as one declaration."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from drgsim.neurons import models
from drgsim.neurons.mechanisms import MECHANISMS, N_PARAMS, Mechanism, MRGParam, mrg_node_params
from drgsim.neurons.models import CellModel, CellModelSpec, registry, sundt
from drgsim.neurons.morphology import MorphologyBuilder, straight_path
from drgsim.neurons.threshold import ThresholdConfig, run

REFERENCES = (Path(__file__).parents[2] / "REFERENCES.md").read_text()


def test_the_registry_lists_the_shipped_models_each_with_its_source():
    """Every model cites its DOIs, and each is in its module's docstring and in REFERENCES.md."""
    assert models.names() == ("drg_abeta", "drg_adelta", "drg_c", "motor", "mrg", "sundt")
    assert [m.value for m in CellModel] == list(models.names())
    for name in models.names():
        spec = models.get(name)
        dois = re.findall(r"doi:(\S+?)(?:[;,]|$)", spec.citation)
        assert dois, name
        doc = " ".join(sys.modules[spec.build.__module__].__doc__.split())
        for doi in dois:
            assert doi in REFERENCES and doi in doc, (name, doi)
        assert set(spec.mechanisms) <= set(Mechanism)


def test_an_unknown_model_names_the_allowed_ones():
    with pytest.raises(ValidationError, match="unknown cell model 'nope'; allowed: drg_abeta, drg_adelta"):
        ThresholdConfig(model="nope")


def _toy(diameter_um: float = 1.0, n_compartments: int = 201):
    """A straight Sundt cable of 20 um compartments without sealed ends."""
    comps = [sundt.compartment(20.0, diameter_um, 37.0, "axon") for _ in range(n_compartments)]
    b = MorphologyBuilder(f"toy {diameter_um:g} um")
    b.add_branch(-1, comps, straight_path((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), n_compartments * 0.02))
    b.detectors = {"end": int(0.9 * (n_compartments - 1))}
    return b.build("end", propagation_ms=20.0)


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    return models.register(CellModelSpec(
        name="toy", build=_toy, mechanisms=(Mechanism.SUNDT,), citation="a test's toy",
        centre=lambda cell: (cell.n - 1) // 2, diameter_range_um=(0.5, 2.0), default_diameter_um=1.0,
        length_keyword="n_compartments", default_length=201))


def test_a_new_model_is_one_declaration(toy):
    """Registered through the API alone, a model has its threshold, its ranges checked, and no second twin."""
    report = run(ThresholdConfig(model="toy", distance_mm=0.3, nodes=151))
    assert np.isfinite(report.threshold_ma) and report.n_compartments == 151
    with pytest.raises(ValidationError, match="outside 0.5-2.0 um for toy"):
        ThresholdConfig(model="toy", diameter_um=3.0)
    with pytest.raises(ValueError, match="already registered"):
        models.register(CellModelSpec("toy", _toy, (), "another", toy.centre))


def test_mechanism_parameters_are_named():
    """Named values land in their rows; every mechanism fits the kernel's parameter block."""
    p = mrg_node_params(37.0, gnabar=2.5)
    assert p[MRGParam.GNABAR] == 2.5 and p[MRGParam.GL] == 0.007
    assert p[MRGParam.Q10_3] == pytest.approx(3.0 ** 0.1)
    for spec in MECHANISMS.values():
        assert len(spec.params) <= N_PARAMS
        assert all(r in spec.params for r in spec.rate_params)
