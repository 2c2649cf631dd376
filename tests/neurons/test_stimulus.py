"""Point-source potentials."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.neurons.stimulus import point_source_potentials


def test_point_source_is_inverse_distance():
    v = point_source_potentials(np.array([[1.0, 0, 0], [2.0, 0, 0]]), (0, 0, 0), 500.0)
    sigma = 100.0 / 500.0
    assert v[0] == pytest.approx(1e3 / (4 * np.pi * sigma * 1.0))
    assert v[0] / v[1] == pytest.approx(2.0)
