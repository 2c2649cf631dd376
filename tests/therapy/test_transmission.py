"""Nociceptive transmission through the ganglion under a program (``therapy.transmission``)."""

from __future__ import annotations

from drgsim.therapy.outcomes import evaluate_posture, nociceptive_transmission


def test_clinical_drg_program_leaves_c_transmission_unchanged_and_scs_by_construction(comparison):
    """The optimized DRG program stays far below every C neuron's threshold (Graham 2019): none passes the screen
    and transmission is unchanged; SCS does not act on the ganglion: unchanged by construction, and said so."""
    tx = comparison.drg.nociceptive_transmission
    assert tx.basis == "simulated" and tx.transmitted_pct == 100.0
    assert all(x.simulated == 0 and x.c_neurons > 0 and 0 < x.c_ratio_max < 0.5 for x in tx.leads)
    scs = comparison.scs.nociceptive_transmission
    assert scs.basis == "by construction" and scs.transmitted_pct == 100.0 and scs.leads == []
    assert comparison.drg.summary()["nociceptive_transmission_pct"] == 100.0
    assert comparison.scs.summary()["nociceptive_transmission_basis"] == "by construction"


def test_simulating_the_screened_neurons_changes_nothing(comparison, drg_model):
    """With the screen off, every C neuron of one lead is simulated in its own field: far below threshold each
    carries every peripheral spike to the cord, with and without the program, as the screen assumed."""
    program = comparison.drg.optimization.program
    one = program.model_copy(update={"leads": {k: s if k == 1 else s.model_copy(update={"enabled": False})
                                               for k, s in program.leads.items()}})
    tx = nociceptive_transmission(drg_model, one, duration_s=0.3, ongoing_hz=20.0, screen_ratio=0.0)
    (lead,) = tx.leads
    assert lead.simulated == lead.c_neurons > 0
    assert lead.transmitted_pct == lead.transmitted_pct_without == 100.0


def test_outcomes_carry_transmission_only_when_asked(comparison, drg_model):
    """Transmission joins the posture's outcome when asked for, the same as computed on its own; not otherwise
    (it costs trains)."""
    program, posture = comparison.drg.optimization.program, comparison.optimizer.posture
    assert evaluate_posture(drg_model, program, posture).nociceptive_transmission is None
    asked = evaluate_posture(drg_model, program, posture, transmission=True).nociceptive_transmission
    assert asked == comparison.drg.nociceptive_transmission
