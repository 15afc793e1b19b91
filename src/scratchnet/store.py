"""The results store of a grid search: one SQLite file that survives crashes.

Every finished training (configuration, fold) is one row of ``runs`` with its
per-epoch history in ``epochs``, committed as soon as it arrives, so a crash
loses only the trainings in flight and the same command resumes. A ``meta``
table names the format and holds the *fingerprint* of the experiment (data,
grid, folds, epochs, batch size, seed, dtype, network recipe): a store is only ever extended
by the experiment it was made for.

Schema (format version 3)::

    meta(key TEXT PRIMARY KEY, value TEXT)            -- format, format_version, fingerprint (JSON), …
    runs(id, hidden_layers, hidden_nodes, learning_rate, <recipe>, fold, init_seed, batch_seed, epochs,
         loss_training, accuracy_training, loss_validation, accuracy_validation, seconds,
         group_size, group_seconds, finished_at, diverged_epoch)
         UNIQUE (hidden_layers, hidden_nodes, learning_rate, <recipe>, fold)
    epochs(run_id → runs.id, epoch, loss_training, accuracy_training,
           loss_validation, accuracy_validation, seconds)    PRIMARY KEY (run_id, epoch)
    refits(id, hidden_layers, hidden_nodes, learning_rate, <recipe>, epochs, loss_training, accuracy_training,
           loss_test, accuracy_test, seconds, model_path, finished_at)

``<recipe>`` is ``activation, output, loss, init, optimizer, momentum,
weight_decay, schedule, dropout`` (``recipe.Recipe.FIELDS``). Stores of format
version 1 lack these columns: they hold one recipe, that of their fingerprint
(the article's where it names none); they are read and extended as they are,
the recipe columns filled in from the fingerprint. Version 3 added the nullable
``diverged_epoch``: the epoch in which a training's loss or weights turned
NaN/infinite (NULL: it did not), its metrics those of the last finite epoch
(NULL if none); an older store gains the column when opened for writing and
reads as "none diverged" when opened read-only.

A row of ``runs`` exists only for a finished training; its metrics are those
of the last epoch. Trainings of a fold run together in groups: ``group_seconds``
is the wall time of the group, ``seconds`` the training's share of it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import StoreError
from .grid import COLUMNS, Config
from .recipe import DEFAULTS, FIELD_TYPES, Recipe
from .version import __version__

FORMAT_NAME = "scratchnet-tune"
FORMAT_VERSION = 3
METRICS = ["loss_training", "accuracy_training", "loss_validation", "accuracy_validation"]
RECIPE_FIELDS = list(Recipe.FIELDS)
"""The recipe columns of ``runs`` and ``refits`` (format 2)."""
CONFIG_COLUMNS = list(COLUMNS)
RUN_COLUMNS = [
    *CONFIG_COLUMNS,
    "fold",
    "init_seed",
    "batch_seed",
    "epochs",
    *METRICS,
    "seconds",
    "group_size",
    "group_seconds",
    "finished_at",
    "diverged_epoch",
]
_ADDED = {"diverged_epoch": "INTEGER"}
"""Nullable columns of ``runs`` added after format 2 (an older store gains them when opened for writing)."""
_REQUIRED = [c for c in RUN_COLUMNS if c not in RECIPE_FIELDS and c not in _ADDED]  # in every format version
_SQL_TYPES = {str: "TEXT", float: "REAL", int: "INTEGER"}
_RECIPE_SQL = "".join(f"\n    {k} {_SQL_TYPES[FIELD_TYPES[k]]} NOT NULL," for k in RECIPE_FIELDS)
"""The recipe columns of the schema, from ``recipe.FIELD_TYPES``: ``activation TEXT NOT NULL, …``."""

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    hidden_layers INTEGER NOT NULL,
    hidden_nodes INTEGER NOT NULL,
    learning_rate REAL NOT NULL,"""
    + _RECIPE_SQL
    + """
    fold INTEGER NOT NULL,
    init_seed INTEGER NOT NULL,
    batch_seed INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    loss_training REAL, accuracy_training REAL, loss_validation REAL, accuracy_validation REAL,
    seconds REAL NOT NULL,
    group_size INTEGER NOT NULL,
    group_seconds REAL NOT NULL,
    finished_at TEXT NOT NULL,
    diverged_epoch INTEGER,
    UNIQUE ("""
    + ", ".join([*CONFIG_COLUMNS, "fold"])
    + """)
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    loss_training REAL, accuracy_training REAL, loss_validation REAL, accuracy_validation REAL,
    seconds REAL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS refits (
    id INTEGER PRIMARY KEY,
    hidden_layers INTEGER NOT NULL,
    hidden_nodes INTEGER NOT NULL,
    learning_rate REAL NOT NULL,"""
    + _RECIPE_SQL
    + """
    epochs INTEGER NOT NULL,
    loss_training REAL, accuracy_training REAL, loss_test REAL, accuracy_test REAL,
    seconds REAL NOT NULL,
    model_path TEXT,
    finished_at TEXT NOT NULL
);
"""
)


FINGERPRINT_DEFAULTS = dict(DEFAULTS)
"""Fingerprint keys added after stores existed: the value a store without them was made with (the article's).

The network recipe (activation, output, loss, init) came first, then the
training options (optimizer, momentum, weight_decay, schedule, dropout)."""


def _now():
    return datetime.now(UTC).isoformat(timespec="seconds")


def _real(value):
    """A metric as a float, NULL (None) where it is NaN (a training that diverged in its first epoch)."""
    value = float(value)
    return None if value != value else value


def _describe(value):
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _names_our_format(path):
    """Whether ``path`` is an SQLite file whose meta table says it is a scratchnet store."""
    try:
        conn = sqlite3.connect(f"file:{Path(path).resolve().as_posix()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == FORMAT_NAME


class Store:
    """An open results store. Use ``Store.create_or_open`` (tune) or ``Store.open`` (report, refit)."""

    path: Path
    """The SQLite file."""
    conn: sqlite3.Connection
    fingerprint: dict[str, Any]
    """What makes the experiment (``grid.experiment_fingerprint``), as the meta table holds it."""
    legacy: bool
    """A format-1 store: no recipe columns; its one recipe is its fingerprint's."""
    _recipe: dict[str, Any]
    """The recipe of the fingerprint (the article's where it names none): a format-1 store's only recipe."""

    def __init__(self, path: str | os.PathLike, conn: sqlite3.Connection, fingerprint: dict[str, Any]) -> None:
        self.path = Path(path)
        self.conn = conn
        self.fingerprint = fingerprint
        columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        self.legacy = "activation" not in columns
        self.missing = [c for c in _ADDED if c not in columns]
        """Columns added after this store's format that it lacks (opened read-only: read as NULL)."""
        self._recipe = {k: {**FINGERPRINT_DEFAULTS, **fingerprint}[k] for k in RECIPE_FIELDS}

    def _recipe_of(self, record):
        """The recipe columns of ``record`` (a run or refit); a format-1 store refuses another recipe than its own."""
        recipe = {k: record.get(k, DEFAULTS[k]) for k in RECIPE_FIELDS}
        if self.legacy and recipe != self._recipe:
            raise StoreError(
                f"store {str(self.path)!r} (format 1) holds only the recipe {self._recipe}; "
                f"it cannot take a training with {recipe}"
            )
        return recipe

    def _with_recipe(self, frame, after="learning_rate"):
        """A format-1 store's rows with the recipe columns of its fingerprint inserted after ``after``."""
        if self.legacy:
            at = frame.columns.get_loc(after) + 1
            for i, k in enumerate(RECIPE_FIELDS):
                frame.insert(at + i, k, self._recipe[k])
        return frame

    def _config_sql(self, prefix=""):
        """The configuration columns of ``runs`` that this store has, for SELECT and ORDER BY."""
        columns = [c for c in CONFIG_COLUMNS if not (self.legacy and c in RECIPE_FIELDS)]
        return ", ".join(prefix + c for c in columns)

    # ------------------------------------------------------------ opening
    @staticmethod
    def _connect(path, readonly=False):
        uri = f"file:{Path(path).resolve().as_posix()}" + ("?mode=ro" if readonly else "")
        conn = sqlite3.connect(uri, uri=True, timeout=30)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @staticmethod
    def _read_meta(conn, path):
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{str(path)!r} is not a scratchnet store (not an SQLite database: {exc})") from None
        if "meta" not in tables:
            raise StoreError(f"{str(path)!r} is not a scratchnet store (an SQLite database without scratchnet tables)")
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT_NAME:
            raise StoreError(
                f"{str(path)!r} is not a scratchnet store (its meta table names format {meta.get('format')!r})"
            )
        try:
            version = int(meta.get("format_version", ""))
        except ValueError:
            raise StoreError(
                f"{str(path)!r} has an invalid store format version {meta.get('format_version')!r}"
            ) from None
        if version > FORMAT_VERSION:
            raise StoreError(
                f"{str(path)!r} uses store format version {version}, newer than this scratchnet understands "
                f"({FORMAT_VERSION}); upgrade scratchnet"
            )
        missing = {"runs", "epochs", "refits"} - tables
        if missing:
            raise StoreError(f"{str(path)!r} is a damaged scratchnet store: tables {sorted(missing)} are missing")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        recipe = set(RECIPE_FIELDS) & columns
        if not set(_REQUIRED) <= columns or recipe not in (set(), set(RECIPE_FIELDS)):
            raise StoreError(
                f"{str(path)!r} is a damaged or pre-release scratchnet store: table runs lacks the columns "
                f"{sorted((set(_REQUIRED) | (set(RECIPE_FIELDS) if recipe else set())) - columns)}; "
                "start it over with `scratchnet tune --new`"
            )
        try:
            return json.loads(meta["fingerprint"])
        except (KeyError, json.JSONDecodeError):
            raise StoreError(
                f"{str(path)!r} is a damaged scratchnet store: its fingerprint is missing or unreadable"
            ) from None

    @classmethod
    def open(cls, path: str | os.PathLike, readonly: bool = False) -> Store:
        """Open an existing store (``StoreError`` if it is missing, foreign or damaged)."""
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"store {str(path)!r} does not exist; create it with `scratchnet tune --store {path}`")
        conn = cls._connect(path, readonly=readonly)
        try:
            fingerprint = cls._read_meta(conn, path)
            if not readonly:
                cls._add_columns(conn)
        except Exception:
            conn.close()
            raise
        return cls(path, conn, fingerprint)

    @staticmethod
    def _add_columns(conn):
        """Give an older store the nullable columns of ``_ADDED`` (and the current format version)."""
        columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        missing = [c for c in _ADDED if c not in columns]
        if not missing:
            return
        try:
            with conn:
                for c in missing:
                    conn.execute(f"ALTER TABLE runs ADD COLUMN {c} {_ADDED[c]}")
                conn.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION),))
        except sqlite3.OperationalError:  # a read-only file: read it as it is
            pass

    @classmethod
    def create_or_open(cls, path: str | os.PathLike, fingerprint: dict[str, Any], new: bool = False) -> Store:
        """Open the store of the experiment ``fingerprint`` at ``path``, creating it if needed.

        An existing store made for another experiment is refused with the list
        of differences, unless ``new`` is true: then it is deleted and started over.
        A file that is not a scratchnet store is never overwritten.
        """
        path = Path(path)
        if path.exists():
            try:
                store = cls.open(path, readonly=False)
            except StoreError:
                if not (new and _names_our_format(path)):
                    raise
                store = None  # a damaged scratchnet store may be started over
            if new:
                if store is not None:
                    store.close()
                for suffix in ("", "-wal", "-shm"):
                    Path(str(path) + suffix).unlink(missing_ok=True)
            else:
                ours, theirs = ({**FINGERPRINT_DEFAULTS, **fp} for fp in (fingerprint, store.fingerprint))
                diff = [k for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
                if diff:
                    store.close()
                    was = ", ".join(f"{k}={_describe(theirs.get(k))}" for k in diff)
                    now = ", ".join(f"{k}={_describe(ours.get(k))}" for k in diff)
                    raise StoreError(
                        f"store {str(path)!r} belongs to another experiment: it was made with {was}; this "
                        f"command asks for {now}. Use the same options to resume it, another --store, or --new "
                        "to delete it and start over"
                    )
                return store
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = cls._connect(path)
        conn.execute("PRAGMA journal_mode = WAL")
        with conn:
            conn.executescript(_SCHEMA)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("format", FORMAT_NAME),
                    ("format_version", str(FORMAT_VERSION)),
                    ("fingerprint", json.dumps(fingerprint, sort_keys=True)),
                    ("scratchnet_version", __version__),
                    ("created_at", _now()),
                ],
            )
        return cls(path, conn, fingerprint)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- writing
    def add_runs(self, results: Iterable[dict[str, Any]]) -> int:
        """Commit finished trainings in one transaction; a (config, fold) already stored is kept as is.

        ``results``: dicts with the keys of ``RUN_COLUMNS`` (except ``finished_at``;
        recipe keys default to the article's) and ``history``, a DataFrame with
        ``epoch`` and the ``METRICS`` and ``seconds`` columns. Returns the number of new rows.
        """
        added = 0
        recipe_columns = [] if self.legacy else RECIPE_FIELDS
        columns = [
            "hidden_layers",
            "hidden_nodes",
            "learning_rate",
            *recipe_columns,
            "fold",
            "init_seed",
            "batch_seed",
            "epochs",
            *METRICS,
            "seconds",
            "group_size",
            "group_seconds",
            "finished_at",
            *(["diverged_epoch"] if not self.missing else []),
        ]
        sql = f"INSERT OR IGNORE INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        with self.conn:
            for r in results:
                history = r["history"]
                last = history.iloc[-1] if len(history) else {m: float("nan") for m in METRICS}
                diverged = r.get("diverged_epoch")
                if diverged is not None and self.missing:
                    raise StoreError(f"store {str(self.path)!r} is read-only and predates diverged trainings")
                recipe = self._recipe_of(r)
                cur = self.conn.execute(
                    sql,
                    (
                        int(r["hidden_layers"]),
                        int(r["hidden_nodes"]),
                        float(r["learning_rate"]),
                        *(recipe[k] for k in recipe_columns),
                        int(r["fold"]),
                        int(r["init_seed"]),
                        int(r["batch_seed"]),
                        len(r["history"]),
                        *(_real(last[m]) for m in METRICS),
                        float(r["seconds"]),
                        int(r.get("group_size", 1)),
                        float(r.get("group_seconds", r["seconds"])),
                        _now(),
                        *([None if diverged is None else int(diverged)] if not self.missing else []),
                    ),
                )
                if cur.rowcount == 0:
                    continue
                added += 1
                run_id = cur.lastrowid
                self.conn.executemany(
                    "INSERT INTO epochs (run_id, epoch, loss_training, accuracy_training, loss_validation, "
                    "accuracy_validation, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (run_id, int(row.epoch), *(float(getattr(row, m)) for m in METRICS), float(row.seconds))
                        for row in r["history"].itertuples(index=False)
                    ],
                )
        return added

    def add_refit(self, record: dict[str, Any]) -> None:
        """Record a refit of the best configuration (a dict with the columns of ``refits``)."""
        recipe = self._recipe_of(record)
        recipe_columns = [] if self.legacy else RECIPE_FIELDS
        columns = [
            "hidden_layers",
            "hidden_nodes",
            "learning_rate",
            *recipe_columns,
            "epochs",
            "loss_training",
            "accuracy_training",
            "loss_test",
            "accuracy_test",
            "seconds",
            "model_path",
            "finished_at",
        ]
        with self.conn:
            self.conn.execute(
                f"INSERT INTO refits ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                (
                    int(record["hidden_layers"]),
                    int(record["hidden_nodes"]),
                    float(record["learning_rate"]),
                    *(recipe[k] for k in recipe_columns),
                    int(record["epochs"]),
                    float(record["loss_training"]),
                    float(record["accuracy_training"]),
                    float(record["loss_test"]),
                    float(record["accuracy_test"]),
                    float(record["seconds"]),
                    str(record.get("model_path") or ""),
                    _now(),
                ),
            )

    def set_meta(self, key: str, value: Any) -> None:
        """Remember a text ``value`` under ``key`` (e.g. ``data_path``) in the meta table."""
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(value)))

    # -------------------------------------------------------------- reading
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """The meta value stored under ``key``, or ``default``."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def finished(self) -> set[tuple[Config, int]]:
        """The set of ``(Config, fold)`` already stored."""
        rows = self.conn.execute(f"SELECT {self._config_sql()}, fold FROM runs").fetchall()
        columns = [c for c in CONFIG_COLUMNS if not (self.legacy and c in RECIPE_FIELDS)]
        return {(Config.from_row({**self._recipe, **dict(zip(columns, r[:-1]))}), int(r[-1])) for r in rows}

    def runs(self) -> pd.DataFrame:
        """One row per finished training (``RUN_COLUMNS``), ordered by configuration and fold."""
        columns = [c for c in RUN_COLUMNS if not (self.legacy and c in RECIPE_FIELDS) and c not in self.missing]
        frame = self._with_recipe(
            pd.read_sql_query(f"SELECT {', '.join(columns)} FROM runs ORDER BY {self._config_sql()}, fold", self.conn)
        )
        for c in self.missing:
            frame[c] = None
        frame["diverged_epoch"] = frame["diverged_epoch"].astype("Int64")
        return frame

    def epochs(self) -> pd.DataFrame:
        """Every stored epoch: configuration, fold, epoch and its metrics."""
        return self._with_recipe(
            pd.read_sql_query(
                f"SELECT {self._config_sql('r.')}, r.fold, e.epoch, "
                + ", ".join(f"e.{m}" for m in METRICS)
                + f", e.seconds FROM epochs e JOIN runs r ON r.id = e.run_id "
                f"ORDER BY {self._config_sql('r.')}, r.fold, e.epoch",
                self.conn,
            )
        )

    def refits(self) -> pd.DataFrame:
        return self._with_recipe(pd.read_sql_query("SELECT * FROM refits ORDER BY id", self.conn))
