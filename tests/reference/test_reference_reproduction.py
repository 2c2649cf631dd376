"""Re-run one stored reference case with the oracle (slow: ~10 s)."""

from __future__ import annotations

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import neuron_oracle as oracle  # noqa: E402
from test_oracle import needs_neuron  # noqa: E402

REFERENCE_JSON = os.path.join(HERE, "..", "..", "src", "drgsim", "data", "reference", "neuron_reference.json")


@needs_neuron
@pytest.mark.neuron
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(REFERENCE_JSON), reason="reference not generated")
def test_reproduces_stored_reference_case():
    """Re-run the cheapest stored MRG case: same threshold and same search history."""
    with open(REFERENCE_JSON) as fh:
        ref = json.load(fh)
    cases = [c for c in ref["cases"] if c["model"] == "mrg" and c["group"] == "mrg_grid"]
    case = min(cases, key=lambda c: c["n_simulations"] * c["n_steps"] * c["n_sections"])
    wf = oracle.make_waveform(case["waveform_kind"], case["polarity"], case["pw_ms"], case["dt_ms"], case["tstop_ms"])
    r = oracle.run_threshold(
        case["model"],
        case["diameter_um"],
        case["n_nodes"],
        case["distance_mm"],
        case["resistivity_ohm_cm"],
        wf,
        case["dt_ms"],
        case["tstop_ms"],
        case["lo_ma"],
        case["hi_ma"],
        case["rel_tol"],
        use_play=True,
    )
    assert r["threshold_ma"] == pytest.approx(case["threshold_ma"], rel=1e-12)
    assert r["n_simulations"] == case["n_simulations"]
