"""bench: comparable training and evaluation of preference-optimisation objectives."""

__version__ = "0.1.0"
