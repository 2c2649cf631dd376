"""Loading the anatomy data files packaged under ``drgsim/data``."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def load_json(name: str) -> dict:
    """Parsed contents of ``drgsim/data/<name>`` (cached: the files are read-only package data)."""
    return json.loads(resources.files("drgsim.data").joinpath(name).read_text())
