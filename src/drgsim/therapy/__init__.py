"""Therapy: from a pain map to a programmed, simulated DRG system, beside conventional SCS.

``model``: implant planning and the threshold tables of every lead and posture; ``outcomes``:
paresthesia, coverage, side effects, energy and posture for a program; ``optimize``: the
lowest-energy program that covers the pain map; ``compare``: DRG versus SCS on one patient and the
four claims as numbers; ``report``: HTML and figures; ``cli``: ``demo``, ``compare``, ``simulate``.
"""
