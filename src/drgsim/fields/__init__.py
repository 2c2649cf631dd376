"""Volume conductors: finite-element models of the DRG in its foramen and of the thoracic canal."""
