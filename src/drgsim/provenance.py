"""What a result came from, for citing it: drgsim's version and commit, the run's date, Python and the
versions of the libraries that compute it."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from drgsim import __version__

DEPENDENCIES = ("numpy", "scipy", "numba", "ngsolve", "netgen-mesher", "pydantic", "matplotlib")
NOTICE = ("Research use only. drgsim is not a medical device: its numbers come from models of a virtual patient and "
          "must not be used to diagnose, plan, program or adjust the therapy of a real patient.")


def git_commit() -> str:
    """The commit drgsim runs from (with ' + uncommitted changes' when its checkout has edits), or why none is
    known."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return "unknown (not run from a git checkout)"
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "."],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"
    return head.stdout.strip() + (" + uncommitted changes" if dirty else "")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance() -> dict[str, str | dict[str, str]]:
    """drgsim's version and commit, the date (UTC), Python, the platform and the dependencies' versions."""
    return {"drgsim": __version__, "commit": git_commit(),
            "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "python": platform.python_version(), "platform": platform.platform(terse=True),
            "dependencies": {p: _version(p) for p in DEPENDENCIES}}
