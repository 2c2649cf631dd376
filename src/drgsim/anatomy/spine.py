"""Spine and DRG geometry per level: the numbers that parameterize the ``drgsim.fields`` geometries.

``drg_geometry(level)`` gives the ganglion (an ellipsoid), its position in the intervertebral
foramen, the roots and the dural sleeve at T10-S2; ``canal_geometry(level, posture)`` the thoracic
canal, dura, CSF and cord at T10-T12 where SCS leads lie. Values are published means where the
reference has them (DRG volumes: Weiner 2022, AJNR 43:769; widths and root angles: Silverstein
2015; dCSF: Holsheimer 1994) and typical values marked [unverified] otherwise; every field's
source is in ``drgsim/data/spine.json``. All lengths in mm.

Frames: the ganglion's length runs along the nerve (+ lateral), its width cranio-caudally and
its height dorso-ventrally. The canal's AP axis is dorso-ventral and LR is left-right (+ left).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drgsim.anatomy._data import load_json
from drgsim.anatomy.levels import Level, Side, as_level
from drgsim.anatomy.posture import Posture, as_posture, cord_offset_change_mm, dcsf_change_mm

__all__ = ["Level", "Side", "DRGGeometry", "DRGLevelData", "CanalGeometry", "CanalLevelData", "drg_geometry",
           "drg_level_data", "canal_geometry", "canal_level_data", "CANAL_LEVELS"]

_FROZEN = ConfigDict(extra="forbid", frozen=True)
Mm = Annotated[float, Field(gt=0)]
NonNegMm = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
AngleDeg = Annotated[float, Field(gt=0, lt=90)]


# Ellipsoid formulas over the measured axes give 0.42-0.63 of the segmented DRG volume (Weiner et al.
# 2022, AJNR 43:769); the model ganglion is that ellipsoid (mid-range fraction), so its axes stay
# close to measured ones (L5: about 10 x 5.8 x 4.9 mm) while its volume maps to the published one.
ELLIPSOID_VOLUME_FRACTION = 0.525


class _DRGCommon(BaseModel):
    """What a level's stored data and a ganglion's geometry share."""

    model_config = _FROZEN

    ganglion_width_mm: Mm
    ganglion_height_mm: Mm
    ganglion_offset_mm: float
    foramen_height_mm: Mm
    foramen_width_mm: Mm
    foramen_length_mm: Mm
    root_angle_deg: AngleDeg
    dorsal_root_diameter_mm: Mm
    ventral_root_diameter_mm: Mm
    spinal_nerve_diameter_mm: Mm
    ventral_root_gap_mm: NonNegMm
    dural_sleeve_thickness_mm: Mm
    sleeve_csf_mm: NonNegMm


class DRGGeometry(_DRGCommon):
    """One dorsal root ganglion in its foramen, with roots, spinal nerve and dural sleeve."""

    level: Level
    ganglion_length_mm: Mm

    @property
    def ganglion_volume_mm3(self) -> float:
        """Segmented volume the ellipsoid stands for: (pi/6 L W H) / ELLIPSOID_VOLUME_FRACTION."""
        ellipsoid = math.pi / 6 * self.ganglion_length_mm * self.ganglion_width_mm * self.ganglion_height_mm
        return ellipsoid / ELLIPSOID_VOLUME_FRACTION


class DRGLevelData(_DRGCommon):
    """The stored means (and volume spread) of one level; the ganglion length follows from the volume."""

    volume_mm3: Mm
    volume_sd_mm3: Mm

    @property
    def ganglion_length_mm(self) -> float:
        """Ellipsoid length whose ellipsoid volume is the fraction of the measured volume that ellipsoid
        formulas recover: 6 f V / (pi W H)."""
        return 6 * ELLIPSOID_VOLUME_FRACTION * self.volume_mm3 / (math.pi * self.ganglion_width_mm *
                                                                 self.ganglion_height_mm)


@lru_cache(maxsize=None)
def drg_level_data(level: Level | str) -> DRGLevelData:
    """Stored DRG data of a level (means and the volume SD)."""
    return DRGLevelData.model_validate(load_json("spine.json")["drg"]["levels"][as_level(level)])


def drg_geometry(level: Level | str) -> DRGGeometry:
    """The DRG geometry of a level at the published means."""
    level = as_level(level)
    data = drg_level_data(level)
    fields = data.model_dump(exclude={"volume_mm3", "volume_sd_mm3"})
    return DRGGeometry(level=level, ganglion_length_mm=data.ganglion_length_mm, **fields)


class CanalGeometry(BaseModel):
    """The thoracic spinal canal at one level: bone, epidural fat, dura, CSF and cord (midline values)."""

    model_config = _FROZEN

    level: Level
    canal_ap_mm: Mm
    canal_lr_mm: Mm
    dura_thickness_mm: Mm
    cord_ap_mm: Mm
    cord_lr_mm: Mm
    grey_ap_fraction: Fraction
    dcsf_mm: Mm
    cord_offset_mm: float
    epidural_fat_mm: Mm
    vertebral_bone_mm: Mm
    root_entry_mm: Mm

    @property
    def vcsf_mm(self) -> float:
        """Ventral CSF at the midline: what the canal leaves below the cord (no ventral epidural space)."""
        return (self.canal_ap_mm - self.epidural_fat_mm - 2 * self.dura_thickness_mm - self.dcsf_mm
                - self.cord_ap_mm)

    @property
    def lateral_csf_mm(self) -> float:
        """CSF between the cord and the dura on the side the cord is displaced to."""
        return self.canal_lr_mm / 2 - self.dura_thickness_mm - self.cord_lr_mm / 2 - abs(self.cord_offset_mm)

    @model_validator(mode="after")
    def _cord_fits(self):
        if self.vcsf_mm < 0:
            raise ValueError(f"the cord does not fit the canal at {self.level}: ventral CSF {self.vcsf_mm:.2f} mm")
        if self.lateral_csf_mm < 0:
            raise ValueError(f"the cord does not fit the canal at {self.level}: cord offset "
                             f"{self.cord_offset_mm} mm leaves {self.lateral_csf_mm:.2f} mm of lateral CSF")
        return self


class CanalLevelData(BaseModel):
    """The stored supine means of one thoracic level, with the dCSF spread."""

    model_config = _FROZEN

    canal_lr_mm: Mm
    dura_thickness_mm: Mm
    cord_ap_mm: Mm
    cord_lr_mm: Mm
    grey_ap_fraction: Fraction
    dcsf_mm: Mm
    dcsf_sd_mm: Mm
    vcsf_mm: Mm
    epidural_fat_mm: Mm
    vertebral_bone_mm: Mm
    root_entry_mm: Mm


CANAL_LEVELS: tuple[Level, ...] = tuple(Level(k) for k in load_json("spine.json")["canal"]["levels"])


@lru_cache(maxsize=None)
def canal_level_data(level: Level | str) -> CanalLevelData:
    """Stored supine canal data of a thoracic level."""
    level = as_level(level)
    if level not in CANAL_LEVELS:
        raise ValueError(f"the canal is modelled at {', '.join(CANAL_LEVELS)} (thoracic SCS levels); got {level}")
    return CanalLevelData.model_validate(load_json("spine.json")["canal"]["levels"][level])


def canal_geometry(level: Level | str, posture: Posture | str = Posture.SUPINE, *,
                   dcsf_supine_mm: float | None = None, cord_offset_supine_mm: float = 0.0) -> CanalGeometry:
    """The canal at a thoracic level in a posture, for the mean subject or given supine dCSF and cord offset.

    The bony canal holds epidural fat, dura, dCSF, cord and ventral CSF; a subject's supine dCSF
    sets its canal depth (the dural sac, not the ventral CSF, varies between subjects). Posture
    moves the cord inside the sac: dCSF grows by ``dcsf_change_mm`` and the ventral CSF shrinks by
    as much; the cord moves ``cord_offset_change_mm`` further from the midline on its side.
    """
    level, posture = as_level(level), as_posture(posture)
    data = canal_level_data(level)
    dcsf_supine = data.dcsf_mm if dcsf_supine_mm is None else dcsf_supine_mm
    canal_ap = (data.epidural_fat_mm + 2 * data.dura_thickness_mm + dcsf_supine + data.cord_ap_mm + data.vcsf_mm)
    offset = 0.0 if cord_offset_supine_mm == 0 else (
        cord_offset_supine_mm + math.copysign(cord_offset_change_mm(posture), cord_offset_supine_mm))
    return CanalGeometry(
        level=level, canal_ap_mm=canal_ap, canal_lr_mm=data.canal_lr_mm, dura_thickness_mm=data.dura_thickness_mm,
        cord_ap_mm=data.cord_ap_mm, cord_lr_mm=data.cord_lr_mm, grey_ap_fraction=data.grey_ap_fraction,
        dcsf_mm=dcsf_supine + dcsf_change_mm(level, posture), cord_offset_mm=offset,
        epidural_fat_mm=data.epidural_fat_mm, vertebral_bone_mm=data.vertebral_bone_mm,
        root_entry_mm=data.root_entry_mm)
