"""The errors a user can cause, as scratchnet's own types.

Each is a subclass of the built-in exception a caller would expect
(``ValueError``, ``TypeError``, ``FileNotFoundError`` …), so ``except
ValueError`` keeps working, and of ``ScratchnetError``, so the command line can
turn exactly these into one-line ``error: …`` messages while any other
exception — a bug — keeps its traceback.
"""

from __future__ import annotations


class ScratchnetError(Exception):
    """Base of every error scratchnet raises on purpose about its input."""


class InvalidValueError(ScratchnetError, ValueError):
    """A value is of the right kind but not acceptable (out of range, wrong shape, unknown name …)."""


class InvalidTypeError(ScratchnetError, TypeError):
    """A value is of the wrong kind (a string where a number belongs, a list where a network belongs …)."""


class TrainingDivergedError(ScratchnetError, ArithmeticError, ValueError):
    """Training produced NaN or infinite values; the networks keep their last finite parameters.

    ``epoch`` is the epoch that diverged; ``networks`` (from ``train_many``) the
    positions of the networks that did.
    """

    def __init__(self, message: str, epoch: int | None = None, networks: list[int] | None = None):
        super().__init__(message)
        self.epoch = epoch
        self.networks = networks or []


class DataNotFoundError(ScratchnetError, FileNotFoundError):
    """No copy of the data set could be found or fetched."""


class ModelFileError(InvalidValueError):
    """A model file is missing, damaged, foreign or newer than this scratchnet."""


class StoreError(InvalidValueError):
    """The file is not a usable scratchnet store, or belongs to another experiment."""
