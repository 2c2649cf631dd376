"""drgsim: a validated digital twin of dorsal root ganglion stimulation, with SCS side by side."""

__version__ = "0.1.0"
