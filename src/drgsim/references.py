"""The package's bibliography (``data/references.yaml``): one list every report and docstring draws on.

``cite(*keys)`` gives the citations of a report's sources; ``markdown()`` renders the whole list, which is
what ``REFERENCES.md`` at the repository's root holds (``python -m drgsim.references > REFERENCES.md``).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml

_HEADER = """# References

The sources drgsim's models and validation cases rest on. Each model's docstring names the ones it
uses; `drgsim validate --report` lists those behind its cases. "[unverified]" in a docstring marks a
value not yet confirmed against a primary source. This file is rendered from the package's own copy,
`src/drgsim/data/references.yaml` (`python -m drgsim.references > REFERENCES.md`); `drgsim references
--json` prints it.
"""


@lru_cache(maxsize=1)
def bibliography() -> dict[str, list[dict[str, str]]]:
    """Sections in order, each a list of entries with ``key``, ``citation`` and an optional ``note``."""
    raw = yaml.safe_load(resources.files("drgsim.data").joinpath("references.yaml").read_text(encoding="utf-8"))
    return {s["section"]: s["references"] for s in raw["sections"]}


def _entries() -> dict[str, dict[str, str]]:
    return {e["key"]: e for refs in bibliography().values() for e in refs}


def cite(*keys: str) -> list[str]:
    """The citations of ``keys``, in that order (a KeyError naming the unknown key and where keys are listed)."""
    entries = _entries()
    missing = [k for k in keys if k not in entries]
    if missing:
        raise KeyError(f"reference key(s) {', '.join(missing)} not in drgsim/data/references.yaml")
    return [entries[k]["citation"] for k in keys]


def markdown() -> str:
    """The whole bibliography as REFERENCES.md."""
    lines = [_HEADER]
    for section, refs in bibliography().items():
        lines.append(f"## {section}")
        lines += [f"- {e['citation']}" + (f" ({e['note']}.)" if e.get("note") else "") for e in refs]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
