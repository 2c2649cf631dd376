"""Postures and how each changes the geometry of SCS and DRG stimulation.

Supine is the reference geometry (spine.json). Prone moves the cord away from the dorsal dura,
increasing the dorsal CSF (dCSF) by about 2.2 mm at T11 and 3.4 mm at T12 (Holsheimer 1994, AJNR
15:951); dCSF is the main cause of threshold differences for SCS (He, Barolat, Holsheimer 1994).
A DRG lead lies in the foramen outside the dural sac, so posture barely moves it relative to the
ganglion (Kramer 2015). Magnitudes and their sources are in ``drgsim/data/posture.json``.
"""

from __future__ import annotations

from enum import StrEnum

from drgsim.anatomy._data import load_json
from drgsim.anatomy.levels import Level, as_level


class Posture(StrEnum):
    SUPINE = "supine"
    PRONE = "prone"
    SITTING = "sitting"
    STANDING = "standing"


def as_posture(value: Posture | str) -> Posture:
    """``Posture`` from a posture or its name, with an error that lists the allowed postures."""
    try:
        return Posture(value)
    except ValueError:
        raise ValueError(f"unknown posture {value!r}; allowed: {', '.join(Posture)}") from None


def dcsf_change_mm(level: Level | str, posture: Posture | str) -> float:
    """Change of the midline dorsal CSF thickness from supine, at a thoracic level (mm)."""
    level, posture = as_level(level), as_posture(posture)
    data = load_json("posture.json")
    prone = data["dcsf_change_mm"]["prone"]
    if level not in prone:
        raise ValueError(f"dCSF is modelled at {', '.join(prone)} (thoracic SCS levels); got {level}")
    if posture is Posture.SUPINE:
        return 0.0
    if posture is Posture.PRONE:
        return float(prone[level])
    return float(data["upright_fraction_of_prone"][posture]) * float(prone[level])


def cord_offset_change_mm(posture: Posture | str) -> float:
    """Extra lateral displacement of the cord from its supine position, away from the midline (mm)."""
    return float(load_json("posture.json")["cord_offset_change_mm"][as_posture(posture)])


def drg_lead_displacement_mm(posture: Posture | str) -> float:
    """Displacement of a DRG lead's contacts relative to the ganglion, along the lead, from supine (mm)."""
    return float(load_json("posture.json")["drg_lead_displacement_mm"][as_posture(posture)])
