"""Shared fixtures for the neuron tests: small cells, point-source potentials."""

from __future__ import annotations

import numpy as np
import pytest

from drgsim.neurons.models import mrg
from drgsim.neurons.solver import CellBatch
from drgsim.neurons.stimulus import point_source_potentials


def over_middle_node(cell, distance_mm: float, resistivity_ohm_cm: float = 500.0):
    """A packed one-cell batch and its unit potentials, source over the middle node (offset in x)."""
    batch = CellBatch.pack([cell])
    nodes = mrg.node_indices(cell)
    src = cell.position_mm[nodes[(len(nodes) - 1) // 2]] + np.array([distance_mm, 0.0, 0.0])
    return batch, point_source_potentials(batch.positions_mm, src, resistivity_ohm_cm)


@pytest.fixture(scope="session")
def mrg10():
    return mrg.build(10.0, 21)
