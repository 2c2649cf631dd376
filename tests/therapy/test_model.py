"""Implant planning and threshold tables: a table answers every amplitude as direct simulation would."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.anatomy.levels import Level, Side
from drgsim.anatomy.patient import generate_patient, with_lead_errors
from drgsim.devices.program import LeadSettings, as_contacts
from drgsim.fields.solve import solve
from drgsim.neurons.solver import simulate
from drgsim.therapy.model import SCS_IPSILATERAL_OFFSET_MM, Implant, TherapyModel, plan_implant, quality


def test_implants_follow_the_pain_map(drg_model, scs_model):
    """Left foot (sole, heel, dorsum): DRG leads at left S1 and L5 (plan_targets); SCS at T10, off the
    midline towards the left."""
    assert [(x.level, x.side) for x in drg_model.implant.leads] == [(Level.S1, Side.LEFT), (Level.L5, Side.LEFT)]
    assert drg_model.implant.ipg().system == "drg"
    (scs,) = scs_model.implant.leads
    assert scs.level == Level.T10 and scs.lateral_offset_mm == SCS_IPSILATERAL_OFFSET_MM
    assert scs_model.implant.ipg().system == "scs"


def test_bad_implant_and_quality_are_named():
    with pytest.raises(ValueError, match="device model 'nope'"):
        Implant(system="drg", ipg_model="nope", leads=[{"level": "L5", "side": "left"}])
    with pytest.raises(ValueError, match="quality='best'; allowed: standard, quick"):
        quality("best")


def _table(model, lead, contacts, pw=300.0, posture="supine"):
    site = model.site(lead, posture)
    cs = as_contacts(contacts)
    z = site.impedance_ohm(cs)
    wf = model.lead_waveform(LeadSettings(contacts=cs, pulse_width_us=pw, frequency_hz=20.0), z)
    return site, cs, wf, site.table(cs, wf, 6.0)


def test_a_lead_placed_again_meets_the_same_neurons():
    """Population seeds come from the anatomy: a second placement (the permanent implant after the trial) moves
    the lead, not the person's neurons; another person has other neurons."""
    p = generate_patient(4)
    for system in ("drg", "scs"):
        site = lambda q: TherapyModel(q, plan_implant(p, system), quality("quick")).site(1, "supine")  # noqa: E731
        first, again, other = site(p), site(with_lead_errors(p, seed=9)), site(generate_patient(5))
        assert again.spec != first.spec  # the lead moved
        assert again.cells.config == first.cells.config and again.cells.key == first.cells.key
        assert other.cells.config.seed != first.cells.config.seed


def test_table_thresholds_are_where_direct_simulation_starts_firing(drg_model):
    """Every finite threshold: the cell fires at it and not 3% below (rel_tol 2%); inf: silent at 6 mA."""
    site, cs, wf, table = _table(drg_model, 2, "-+00")
    batch, v = site.configuration_potentials(cs)
    np.testing.assert_allclose(v, site._phi @ [1.0, -1.0, 0.0, 0.0])  # the cathode's unit potential minus the anode's
    thr = table.threshold_ma
    finite = np.isfinite(thr)
    assert finite.sum() >= 5 and (~finite).sum() >= 1  # some cells fire, the C cells do not
    at = simulate(batch, v, np.where(finite, thr, 6.0), wf, site.quality.settings)
    below = simulate(batch, v, np.where(finite, thr * 0.97, 6.0), wf, site.quality.settings)
    assert np.all(at.fired[finite]) and not np.any(at.fired[~finite])
    assert not np.any(below.fired[finite])
    assert all(table.initiation_site[i] not in ("none", "not computed") for i in np.flatnonzero(finite))


def test_tables_are_cached_by_everything_that_made_them(drg_model):
    site, cs, wf, table = _table(drg_model, 2, "-+00")
    site._tables.clear()
    again = site.table(cs, wf, 6.0)  # from disk
    assert again.key == table.key
    np.testing.assert_array_equal(again.threshold_ma, table.threshold_ma)
    other = site.table(cs, wf.model_copy(update={"pulse_width_us": 200.0}), 6.0)
    assert other.key != table.key
    ab = site.kinds == "abeta"
    assert np.all(other.threshold_ma[ab] > table.threshold_ma[ab])  # strength-duration: shorter needs more


def test_configuration_impedance_is_the_fields_bipolar_impedance(drg_model):
    site = drg_model.site(1, "supine")
    sol = solve(site.spec)
    assert site.impedance_ohm(as_contacts("-+00")) == pytest.approx(sol.bipolar_impedance_ohm(0, 1), rel=1e-9)
    assert site.impedance_ohm(as_contacts("+-+0")) < site.impedance_ohm(as_contacts("0-+0"))  # two anodes in parallel


def test_drg_postures_share_one_field_and_slide_the_contacts(drg_model):
    """A DRG lead's postures only move its contacts along it (posture.json): one field (one mesh) holds a
    contact set per displacement; prone's contacts are the field's second set, 0.2 mm medial of supine's."""
    sup, pro, sit = (drg_model.site(2, p) for p in ("supine", "prone", "sitting"))
    assert sup.spec == pro.spec == sit.spec and sup.cells is pro.cells
    assert (sup.columns, pro.columns, sit.columns) == ((0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11))
    sol = solve(sup.spec)
    assert sol.contacts[4] == "contact1@0.2mm"
    place = sup.spec.geometry.lead_placement()
    assert place.contact_slides_mm == (0.0, 0.2, 0.3)
    _, v_sup = sup.configuration_potentials(as_contacts("-+00"))
    _, v_pro = pro.configuration_potentials(as_contacts("-+00"))
    assert sup.key != pro.key and not np.allclose(v_sup, v_pro)
    np.testing.assert_allclose(v_pro, sol.potentials(sup.cells.batch.positions_mm)[:, 4:6] @ [1.0, -1.0])


def test_scs_cells_move_with_the_cord(scs_model):
    """Same fibres (seed) in every posture, deeper below the lead prone, where the dCSF is thicker."""
    sup, pro = scs_model.site(1, "supine"), scs_model.site(1, "prone")
    assert [c.segment for c in sup.info] == [c.segment for c in pro.info]
    y = lambda s: np.mean([c.position_mm[:, 1].mean() for c in s.population.cells])  # noqa: E731
    assert y(pro) < y(sup) - 1.0


def test_moving_the_truncation_by_5mm_changes_no_threshold(drg_model):
    """Axons run to the model's boundary: ending them 5 mm short at both ends (margin 7 instead of 2 mm)
    changes no motor, A-delta or A-beta threshold by more than 2%, and no decisive spike starts within two
    internodes of an end (issue 12)."""
    from drgsim.neurons.solver import CellBatch, find_thresholds
    from drgsim.populations.drg import drg_population

    site, cs, wf, table = _table(drg_model, 2, "-+00")
    kinds = ("abeta", "adelta", "motor")
    thresholds = []
    for margin in (site.population_config.margin_mm, site.population_config.margin_mm + 5.0):
        pop = drg_population(site.spec.geometry, site.population_config.model_copy(update={"margin_mm": margin}))
        cells = [c for c, i in zip(pop.cells, pop.info) if i.kind in kinds]
        batch = CellBatch.pack(cells)
        v = solve(site.spec).potentials(batch.positions_mm)[:, list(site.columns)] @ [1.0, -1.0, 0.0, 0.0]
        res = find_thresholds(batch, v, wf, site.quality.settings, rel_tol=0.005, max_ma=6.0)
        assert not res.cut_end.any()
        thresholds.append(res.threshold_ma)
    full, short = thresholds
    assert np.isfinite(full).sum() >= 8
    np.testing.assert_array_equal(np.isfinite(full), np.isfinite(short))
    fin = np.isfinite(full)
    assert np.max(np.abs(short[fin] / full[fin] - 1)) < 0.02
    assert not site.table(cs, wf, 6.0).cut_end.any()
