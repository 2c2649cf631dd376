"""DRG and canal geometry per level, and postures, against the ranges cited in drgsim.anatomy.spine."""

from __future__ import annotations

import pytest

from drgsim.anatomy._data import load_json
from drgsim.anatomy.levels import Level
from drgsim.anatomy.posture import Posture, cord_offset_change_mm, dcsf_change_mm, drg_lead_displacement_mm
from drgsim.anatomy.spine import CANAL_LEVELS, CanalGeometry, DRGGeometry, canal_geometry, drg_geometry, drg_level_data

LUMBAR = [Level.L1, Level.L2, Level.L3, Level.L4, Level.L5]
# Weiner et al. 2022 (AJNR 43:769): mean (SD) DRG volume by MR gangliography, mm3.
WEINER = {"L4": (211.3, 52.5), "L5": (290.7, 90.9), "S1": (384.2, 145.0), "S2": (192.4, 52.6)}
# Holsheimer et al. 1994 (AJNR 15:951): supine dCSF range and the prone increase, mm.
HOLSHEIMER = {"T11": ((2.0, 6.0), 2.2), "T12": ((1.5, 4.5), 3.4)}


@pytest.mark.parametrize("level", list(Level))
def test_geometry_is_complete_and_positive(level):
    g = drg_geometry(level)
    assert g.level == level
    assert g.ganglion_width_mm < g.foramen_height_mm and g.ganglion_height_mm < g.foramen_width_mm
    assert g.ventral_root_diameter_mm < g.dorsal_root_diameter_mm
    assert g.sleeve_csf_mm < g.dural_sleeve_thickness_mm  # little or no CSF around the ganglion


@pytest.mark.parametrize("level", LUMBAR)
def test_lumbar_widths_lie_in_silverstein_range(level):
    assert 3.2 <= drg_geometry(level).ganglion_width_mm <= 6.5


def test_size_grows_from_l1_to_l5_and_s1_is_largest():
    volumes = [drg_geometry(lv).ganglion_volume_mm3 for lv in Level]
    lumbar = volumes[Level.L1.index:Level.L5.index + 1]
    assert lumbar == sorted(lumbar)
    assert max(volumes) == drg_geometry(Level.S1).ganglion_volume_mm3
    assert drg_geometry(Level.S2).ganglion_volume_mm3 < drg_geometry(Level.S1).ganglion_volume_mm3


@pytest.mark.parametrize("level,published", sorted(WEINER.items()))
def test_ellipsoid_holds_the_published_volume(level, published):
    mean, sd = published
    assert drg_geometry(level).ganglion_volume_mm3 == pytest.approx(mean, rel=1e-9)
    assert drg_level_data(level).volume_sd_mm3 == pytest.approx(sd)


@pytest.mark.parametrize("level", LUMBAR)
def test_root_angles_and_position_in_the_foramen(level):
    g = drg_geometry(level)
    assert 50.5 <= g.root_angle_deg <= 58.8
    # centre in the medial zone of the foramen at L1-L4, lateral at L5 (Silverstein 2015)
    assert (g.ganglion_offset_mm > 0) == (level == Level.L5)
    assert abs(g.ganglion_offset_mm) < g.foramen_length_mm / 2


def test_every_field_has_a_source():
    data = load_json("spine.json")
    geometry_fields = set(DRGGeometry.model_fields) - {"level"}
    assert geometry_fields <= set(data["drg"]["sources"])
    assert set(CanalGeometry.model_fields) - {"level", "cord_offset_mm"} <= set(data["canal"]["sources"])
    assert set(data["variability"]["values"]) <= set(data["variability"]["sources"])


@pytest.mark.parametrize("level,published", sorted(HOLSHEIMER.items()))
def test_dcsf_by_posture_matches_holsheimer(level, published):
    (low, high), prone_increase = published
    supine = canal_geometry(level, "supine").dcsf_mm
    assert low <= supine <= high
    assert canal_geometry(level, "prone").dcsf_mm - supine == pytest.approx(prone_increase)


@pytest.mark.parametrize("level", CANAL_LEVELS)
def test_lying_supine_gives_the_thinnest_dcsf(level):
    """Lowest SCS thresholds lying down (Cameron & Alo 1998); prone the thickest layer."""
    dcsf = {p: canal_geometry(level, p).dcsf_mm for p in Posture}
    assert dcsf[Posture.SUPINE] < dcsf[Posture.STANDING] <= dcsf[Posture.SITTING] < dcsf[Posture.PRONE]


@pytest.mark.parametrize("level", CANAL_LEVELS)
@pytest.mark.parametrize("posture", list(Posture))
def test_posture_moves_the_cord_inside_a_fixed_canal(level, posture):
    supine, moved = canal_geometry(level), canal_geometry(level, posture)
    assert moved.canal_ap_mm == supine.canal_ap_mm
    assert moved.dcsf_mm + moved.vcsf_mm == pytest.approx(supine.dcsf_mm + supine.vcsf_mm)
    assert moved.vcsf_mm > 0 and moved.lateral_csf_mm > 0


def test_lateral_cord_shift_keeps_the_side_and_stays_in_holsheimer_range():
    for posture in Posture:
        left = canal_geometry("T11", posture, cord_offset_supine_mm=1.5).cord_offset_mm
        right = canal_geometry("T11", posture, cord_offset_supine_mm=-1.5).cord_offset_mm
        assert left == -right >= 1.5
        assert 0 <= cord_offset_change_mm(posture) <= 2.0
    assert canal_geometry("T11", "prone").cord_offset_mm == 0.0  # a centred cord has no side to move to


def test_drg_lead_barely_moves_with_posture():
    """Kramer 2015: DRG paresthesia unchanged upright vs supine; the shift is well under a contact length."""
    assert drg_lead_displacement_mm("supine") == 0.0
    assert all(0 <= drg_lead_displacement_mm(p) < 0.5 for p in Posture)
    for posture in set(Posture) - {Posture.SUPINE}:  # less than posture moves the cord under an SCS lead
        assert drg_lead_displacement_mm(posture) < dcsf_change_mm("T11", posture)


def test_bad_levels_and_postures_are_named():
    with pytest.raises(ValueError, match="unknown level 'L6'; allowed: T10, T11"):
        drg_geometry("L6")
    with pytest.raises(ValueError, match="canal is modelled at T10, T11, T12"):
        canal_geometry("L4")
    with pytest.raises(ValueError, match="unknown posture 'lateral'"):
        canal_geometry("T11", "lateral")
    with pytest.raises(ValueError, match="does not fit"):
        canal_geometry("T11", cord_offset_supine_mm=6.0)
