"""The version of scratchnet, at the bottom of the house so that every layer may record it (model files, stores)."""

__version__ = "0.1.0"
