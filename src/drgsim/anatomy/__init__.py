"""drgsim.anatomy: the patient's body and spine, from where the pain is to the geometry the fields need.

- ``atlas``: named lower-body regions with dermatome weights and body-map polygons (atlas.json).
- ``painmap``: pain maps (NRS 0-10 per region), validated, with close matches for unknown regions.
- ``planning``: ranked DRG targets (level, side) for a pain map, with reasons.
- ``candidate``: the candidate check against the clinical criteria, with reasons.
- ``spine``: DRG and foramen geometry per level (T10-S2) and the thoracic canal (T10-T12).
- ``posture``: supine, prone, sitting, standing and what each changes.
- ``patient``: virtual patients, a seeded generator and the default CRPS-left-foot patient.
- ``bodymap``: the body map PNG.

This layer imports nothing from the other drgsim layers.
"""

from drgsim.anatomy.atlas import Region, UnknownRegionError, get_region, load_atlas, region_ids, regions_of_level
from drgsim.anatomy.candidate import (
                                      CandidateAssessment,
                                      ClinicalHistory,
                                      Contraindication,
                                      Diagnosis,
                                      PsychExclusion,
                                      assess_candidate,
)
from drgsim.anatomy.levels import Level, Side
from drgsim.anatomy.painmap import PainMap, PainMapError, pain_map, parse_pain
from drgsim.anatomy.patient import Patient, Variability, default_patient, generate_patient, generate_patients
from drgsim.anatomy.planning import Plan, Target, plan_targets
from drgsim.anatomy.posture import Posture, cord_offset_change_mm, dcsf_change_mm, drg_lead_displacement_mm
from drgsim.anatomy.spine import CanalGeometry, DRGGeometry, canal_geometry, drg_geometry

__all__ = ["Region", "UnknownRegionError", "get_region", "load_atlas", "region_ids", "regions_of_level",
           "CandidateAssessment", "ClinicalHistory", "Contraindication", "Diagnosis", "PsychExclusion",
           "assess_candidate", "Level", "Side", "PainMap", "PainMapError", "pain_map", "parse_pain", "Patient",
           "Variability", "default_patient", "generate_patient", "generate_patients", "Plan", "Target",
           "plan_targets", "Posture", "cord_offset_change_mm", "dcsf_change_mm", "drg_lead_displacement_mm",
           "CanalGeometry", "DRGGeometry", "canal_geometry", "drg_geometry"]
