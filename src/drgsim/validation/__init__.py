"""Validation of drgsim against independent references: NEURON, analytic fields, published studies."""
