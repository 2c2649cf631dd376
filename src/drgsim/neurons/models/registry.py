"""The cell-model registry: each model module declares one ``CellModelSpec`` and registers it.

``drgsim.neurons.models`` imports every module of its package, so adding a model is one new file there
(as PyFibers collects its fibre models). Whatever dispatches on a model's name (``drgsim threshold``, the
NEURON validation) reads the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drgsim.neurons.mechanisms import Mechanism
from drgsim.neurons.morphology import Morphology


@dataclass(frozen=True)
class CellModelSpec:
    """A cell model: its builder, the mechanisms its compartments carry and its source (authors, year,
    journal, DOI; its entry in the package bibliography, data/references.yaml).

    ``build`` takes keyword arguments only, all with defaults: ``diameter_um`` where the model has a
    diameter range, ``length_keyword`` (its number of nodes or compartments) where its length is free.
    ``centre`` gives the compartment a point source faces; ``source_direction`` the side it stands on.
    """

    name: str
    build: Callable[..., Morphology]
    mechanisms: tuple[Mechanism, ...]
    citation: str
    centre: Callable[[Morphology], int]
    source_direction: tuple[float, float, float] = (1.0, 0.0, 0.0)
    diameter_range_um: tuple[float, float] | None = None  # None: fixed diameters
    default_diameter_um: float | None = None
    length_keyword: str | None = None  # None: a fixed morphology
    default_length: int | None = None
    odd_length: bool = False  # a node must sit at the centre

    def cell(self, diameter_um: float | None = None, length: int | None = None) -> Morphology:
        """The model's cell, at its defaults where ``diameter_um`` or ``length`` is None."""
        kwargs = {}
        if self.diameter_range_um is not None:
            kwargs["diameter_um"] = self.default_diameter_um if diameter_um is None else diameter_um
        if self.length_keyword is not None:
            kwargs[self.length_keyword] = self.default_length if length is None else length
        return self.build(**kwargs)


_MODELS: dict[str, CellModelSpec] = {}


def register(spec: CellModelSpec) -> CellModelSpec:
    """Add ``spec`` under its name (once; a second model of the same name is an error)."""
    if _MODELS.get(spec.name, spec) is not spec:
        raise ValueError(f"cell model {spec.name!r} is already registered")
    _MODELS[spec.name] = spec
    return spec


def get(name: str) -> CellModelSpec:
    """The model called ``name``; an error naming the value and the registered names otherwise."""
    if name not in _MODELS:
        raise ValueError(f"unknown cell model {name!r}; allowed: {', '.join(names())}")
    return _MODELS[name]


def names() -> tuple[str, ...]:
    return tuple(sorted(_MODELS))
