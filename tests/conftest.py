"""Session-wide test set-up: field solutions are cached in a fresh folder for each test run."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def fresh_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("DRGSIM_CACHE_DIR", str(tmp_path_factory.mktemp("drgsim-cache")))
    yield
    mp.undo()
