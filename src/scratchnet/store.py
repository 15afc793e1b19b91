"""The results store of a grid search: one SQLite file that survives crashes.

Every finished training (configuration, fold) is one row of ``runs`` with its
per-epoch history in ``epochs``, committed as soon as it arrives, so a crash
loses only the trainings in flight and the same command resumes. A ``meta``
table names the format and holds the *fingerprint* of the experiment (data,
grid, folds, epochs, batch size, seed, dtype, network recipe): a store is only ever extended
by the experiment it was made for.

Schema (format version 4)::

    meta(key TEXT PRIMARY KEY, value TEXT)            -- format, format_version, fingerprint (JSON), …
    runs(id, hidden_layers, hidden_nodes, learning_rate, <recipe>, fold, init_seed, batch_seed, epochs,
         loss_training, accuracy_training, loss_validation, accuracy_validation, seconds,
         group_size, group_seconds, finished_at, diverged_epoch)
         UNIQUE (hidden_layers, hidden_nodes, learning_rate, <recipe>, fold)
    epochs(run_id → runs.id, epoch, loss_training, accuracy_training,
           loss_validation, accuracy_validation, seconds)    PRIMARY KEY (run_id, epoch)
    refits(id, hidden_layers, hidden_nodes, learning_rate, <recipe>, epochs, loss_training, accuracy_training,
           loss_test, accuracy_test, seconds, model_path, finished_at)

    owners(owner TEXT PRIMARY KEY, host, pid, started_at, heartbeat)     -- format 3: the tune processes at work
    claims(config TEXT, fold, owner, claimed_at, rung)  PRIMARY KEY (config, fold, rung)  -- being run, by whom
    rungs(id, <config>, fold, rung, epochs, <metrics>, seconds, group_size, group_seconds, finished_at,
          diverged_epoch, state BLOB)  UNIQUE (<config>, fold, rung)     -- format 4: successive halving

``<recipe>`` is ``activation, output, loss, init, optimizer, momentum,
weight_decay, schedule, dropout`` (``recipe.Recipe.FIELDS``). Stores of format
version 1 lack these columns: they hold one recipe, that of their fingerprint
(the article's where it names none); they are read and extended as they are,
the recipe columns filled in from the fingerprint. Version 3 added the nullable
``diverged_epoch``: the epoch in which a training's loss or weights turned
NaN/infinite (NULL: it did not), its metrics those of the last finite epoch
(NULL if none); an older store gains the column when opened for writing and
reads as "none diverged" when opened read-only.

Several ``tune`` processes (on one machine, or on several sharing a disk where
SQLite's locking holds) share one store through ``Claims``: each claims a
training in one ``BEGIN IMMEDIATE`` transaction before running it, keeps a
heartbeat, and the claims of a process that died (its pid is gone, or its
heartbeat is older than ``CLAIM_SECONDS``) expire, so every training still ends
in ``runs`` exactly once. Stores of format 2 gain the two tables when opened for
work and stay readable by older versions.

Format 4 is successive halving (``tune --search halving``, fingerprint key
``search``): each training of a configuration on a fold up to a rung's epochs is
a row of ``rungs`` (its last epoch's metrics, and ``state``: the network and its
optimiser state as a ``runs.write_training`` file, from which the next rung goes
on); a training of the last rung (the full epochs) is also a row of ``runs``, so
``runs`` holds the last rung alone and the report and refit read it as a grid.
A claim names its rung (a grid's trainings are rung 0). Older stores gain the
``rungs`` table and ``claims.rung`` when opened for work.

Health: a store opened is checked with ``PRAGMA quick_check``; a damaged one is
a ``StoreError`` that names the way out (``scratchnet store export`` salvages the
readable rows, ``tune --new`` starts over). ``Store.open(readonly=True)`` opens a
store in a read-only place, and leaves no ``-wal``/``-shm`` files behind.

A row of ``runs`` exists only for a finished training; its metrics are those
of the last epoch. Trainings of a fold run together in groups: ``group_seconds``
is the wall time of the group, ``seconds`` the training's share of it.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import StoreError
from .grid import COLUMNS, Config
from .recipe import DEFAULTS, FIELD_TYPES, Recipe
from .version import __version__

FORMAT_NAME = "scratchnet-tune"
FORMAT_VERSION = 4
"""Format 3 added ``owners`` and ``claims`` and the nullable ``runs.diverged_epoch``; format 4 the ``rungs`` of
successive halving and ``claims.rung``; formats 1 to 3 are read (and gain those when tuned)."""
CLAIM_SECONDS = 60.0
"""A claim expires when its owner's heartbeat is older than this (or, on this host, its process is gone)."""
HEARTBEAT_SECONDS = 5.0
"""How often a working process renews its heartbeat."""
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
    "first_layer",
]
_ADDED = {"diverged_epoch": "INTEGER", "first_layer": "TEXT", "arch": "TEXT NOT NULL DEFAULT ''"}
"""Columns of ``runs`` added after format 2 (an older store gains them when opened for writing): ``arch`` is
``''`` for the article's MLPs (every run of a store from before architectures)."""
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
    arch TEXT NOT NULL DEFAULT '',
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
    first_layer TEXT,
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
    arch TEXT NOT NULL DEFAULT '',
    epochs INTEGER NOT NULL,
    loss_training REAL, accuracy_training REAL, loss_test REAL, accuracy_test REAL,
    seconds REAL NOT NULL,
    model_path TEXT,
    finished_at TEXT NOT NULL
);
"""
)


_CLAIMS_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS owners (
    owner TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started_at TEXT NOT NULL, heartbeat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    config TEXT NOT NULL, fold INTEGER NOT NULL, owner TEXT NOT NULL, claimed_at REAL NOT NULL,
    rung INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (config, fold, rung)
);
CREATE TABLE IF NOT EXISTS rungs (
    id INTEGER PRIMARY KEY,
    hidden_layers INTEGER NOT NULL,
    hidden_nodes INTEGER NOT NULL,
    learning_rate REAL NOT NULL,"""
    + _RECIPE_SQL
    + """
    arch TEXT NOT NULL DEFAULT '',
    fold INTEGER NOT NULL,
    rung INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    loss_training REAL, accuracy_training REAL, loss_validation REAL, accuracy_validation REAL,
    seconds REAL NOT NULL,
    group_size INTEGER NOT NULL,
    group_seconds REAL NOT NULL,
    finished_at TEXT NOT NULL,
    diverged_epoch INTEGER,
    state BLOB,
    UNIQUE ("""
    + ", ".join([*CONFIG_COLUMNS, "fold", "rung"])
    + """)
);
"""
)
RUNG_COLUMNS = [
    *CONFIG_COLUMNS,
    "fold",
    "rung",
    "epochs",
    *METRICS,
    "seconds",
    "group_size",
    "group_seconds",
    "finished_at",
    "diverged_epoch",
]
"""The columns of ``rungs`` but the state (format 4)."""

_SQLITE_MAGIC = b"SQLite format 3\x00"

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


def _ro_uri(path):
    """The URI of a read-only connection: ``immutable`` when no ``-wal`` file is beside the store (no writer at work,
    nothing to replay), so that reading creates no ``-wal``/``-shm`` files and works in read-only places."""
    path = Path(path)
    wal = Path(str(path) + "-wal")
    return f"file:{path.resolve().as_posix()}?mode=ro" + ("" if wal.exists() else "&immutable=1")


def _recover_hint(path):
    return (
        f"salvage its readable rows with `scratchnet store export {path} OUT.csv`, or start over with "
        f"`scratchnet tune --new --store {path}`"
    )


def _names_our_format(path):
    """Whether ``path`` may be deleted by ``--new``: an empty file, or an SQLite file of a scratchnet store.

    A damaged or truncated store whose meta table cannot be read counts when its
    first bytes are SQLite's and it still holds our format name.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return True
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return False
    if head.startswith(_SQLITE_MAGIC) and FORMAT_NAME.encode() in head:
        return True
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True, timeout=30)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == FORMAT_NAME


def _is_empty_database(path):
    """Whether ``path`` is an empty file or an SQLite database without any table (a store being created)."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return True
        conn = sqlite3.connect(_ro_uri(path), uri=True, timeout=30)
        try:
            return conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
        finally:
            conn.close()
    except (OSError, sqlite3.Error):
        return False


def _alive(host, pid, heartbeat, now):
    """Whether an owner still works: a fresh heartbeat, and on this host a living process."""
    if now - heartbeat > CLAIM_SECONDS:
        return False
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OverflowError, ValueError):
            return True
    return True


def _live_owners(conn):
    """``[(owner, host, pid)]`` of the processes at work on the store of ``conn`` (none if it has no owners)."""
    try:
        rows = conn.execute("SELECT owner, host, pid, heartbeat FROM owners").fetchall()
    except sqlite3.Error:
        return []
    now = time.time()
    return [(o, h, p) for o, h, p, beat in rows if _alive(h, p, beat, now)]


def _live_owners_of(path):
    """The processes at work on the store at ``path``, as text (``''`` if none or unreadable)."""
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True, timeout=30)
    except sqlite3.Error:
        return ""
    try:
        owners = _live_owners(conn)
    finally:
        conn.close()
    return ", ".join(f"pid {p} on {h}" for _, h, p in owners)


def config_key(config: Config) -> str:
    """A configuration as the text key of ``claims``."""
    return config.key()


class Claims:
    """This process's claims on the trainings of a store, with a heartbeat thread; a context manager.

    ``claim(items)`` takes, in one ``BEGIN IMMEDIATE`` transaction, those of the
    ``(Config, fold)`` items that are neither finished nor claimed by a live
    process, after expiring the claims of dead ones; ``release`` gives claims
    back (after their results are committed); ``close`` gives back all and
    removes the owner. Its own connection is shared between threads under a lock
    (joblib dispatches jobs from a thread).
    """

    store: Store
    owner: str
    conn: sqlite3.Connection
    lock: threading.Lock
    _stop: threading.Event
    _thread: threading.Thread

    rung: int
    """The rung of successive halving the claims are for (0: a grid's trainings); set it before claiming."""

    def __init__(self, store: Store, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.store = store
        self.rung = 0
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        uri = f"file:{store.path.resolve().as_posix()}"
        self.conn = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None, check_same_thread=False)
        self.lock = threading.Lock()
        self._view = Store(store.path, self.conn, store.fingerprint)
        with self.lock:
            self.conn.executescript(_CLAIMS_SCHEMA)
            self.conn.execute(
                "INSERT OR REPLACE INTO owners (owner, host, pid, started_at, heartbeat) VALUES (?, ?, ?, ?, ?)",
                (self.owner, socket.gethostname(), os.getpid(), _now(), time.time()),
            )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat,), daemon=True)
        self._thread.start()

    def _beat(self, every):
        while not self._stop.wait(every):
            try:
                with self.lock:
                    self.conn.execute(
                        "INSERT OR REPLACE INTO owners (owner, host, pid, started_at, heartbeat) VALUES "
                        "(?, ?, ?, COALESCE((SELECT started_at FROM owners WHERE owner = ?), ?), ?)",
                        (self.owner, socket.gethostname(), os.getpid(), self.owner, _now(), time.time()),
                    )
            except sqlite3.Error:  # a busy or vanished store: the next beat tries again
                continue

    def _transaction(self, work):
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                result = work()
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return result

    def _expire(self):
        """Delete the claims and owner rows of processes that are gone."""
        rows = self.conn.execute("SELECT owner, host, pid, heartbeat FROM owners").fetchall()
        now = time.time()
        dead = [(o,) for o, h, p, beat in rows if o != self.owner and not _alive(h, p, beat, now)]
        self.conn.executemany("DELETE FROM claims WHERE owner = ?", dead)
        self.conn.executemany("DELETE FROM owners WHERE owner = ?", dead)
        live = {o for o, *_ in rows} - {d[0] for d in dead}
        self.conn.execute(
            f"DELETE FROM claims WHERE owner NOT IN ({', '.join('?' * len(live))})", tuple(live)
        )  # claims of an owner row already removed

    def claim(self, items: Iterable[tuple[Config, int]]) -> list[tuple[Config, int]]:
        """Claim the items that are free (not finished, not claimed by a live process); return those claimed."""
        items = list(items)

        def work():
            self._expire()
            done = self._finished()
            held = {
                (c, int(f)): o
                for c, f, o in self.conn.execute("SELECT config, fold, owner FROM claims WHERE rung = ?", (self.rung,))
            }
            mine = []
            for config, fold in items:
                key = (config_key(config), int(fold))
                if (config, fold) in done or held.get(key, self.owner) != self.owner:
                    continue
                mine.append((config, fold))
                self.conn.execute(
                    "INSERT OR REPLACE INTO claims (config, fold, rung, owner, claimed_at) VALUES (?, ?, ?, ?, ?)",
                    (*key, self.rung, self.owner, time.time()),
                )
            return mine

        return self._transaction(work)

    def _finished(self) -> set[tuple[Config, int]]:
        """The trainings of this rung already stored (a grid's: those of ``runs``)."""
        return self._view.finished(self.rung if self.store.fingerprint.get("search") == "halving" else None)

    def claimed_groups(self, groups: Iterable[tuple[int, list[Config]]]) -> Iterator[tuple[int, list[Config]]]:
        """The ``(fold, configs)`` jobs cut down to what this process could claim, claimed as they are drawn."""
        for fold, configs in groups:
            mine = [c for c, _ in self.claim((c, fold) for c in configs)]
            if mine:
                yield fold, mine

    def on_this_host(self) -> int:
        """How many live processes, this one included, work on the store from this machine (they share its cores)."""
        with self.lock:
            owners = _live_owners(self.conn)
        host = socket.gethostname()
        return max(1, sum(h == host for _, h, _ in owners))

    def held_by_others(self) -> int:
        """How many unfinished trainings live processes other than this one hold."""

        def work():
            self._expire()
            done = {(config_key(c), int(f)) for c, f in self._finished()}
            held = self.conn.execute(
                "SELECT config, fold FROM claims WHERE owner != ? AND rung = ?", (self.owner, self.rung)
            ).fetchall()
            return sum((c, int(f)) not in done for c, f in held)

        return self._transaction(work)

    def release(self, items: Iterable[tuple[Config, int]] | None = None) -> None:
        """Give back the claims of ``items`` (all of this process's if None)."""
        with self.lock:
            if items is None:
                self.conn.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))
            else:
                self.conn.executemany(
                    "DELETE FROM claims WHERE owner = ? AND config = ? AND fold = ? AND rung = ?",
                    [(self.owner, config_key(c), int(f), self.rung) for c, f in items],
                )

    def close(self) -> None:
        """Stop the heartbeat, give back every claim and remove this owner."""
        self._stop.set()
        self._thread.join()
        try:
            with self.lock:
                self.conn.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))
                self.conn.execute("DELETE FROM owners WHERE owner = ?", (self.owner,))
        except sqlite3.Error:
            pass  # a vanished store: nothing to give back
        finally:
            self.conn.close()

    def __enter__(self) -> Claims:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def export_runs(path: str | os.PathLike, out: str | os.PathLike) -> tuple[int, int]:
    """Salvage the readable rows of ``runs`` of a (possibly damaged) store into the CSV ``out``.

    Reads row by row by primary key, so damaged pages lose only their own rows.
    Returns ``(rows written, rows unreadable)``.
    """
    path, out = Path(path), Path(out)
    if not path.is_file():
        raise StoreError(f"store {str(path)!r} does not exist")
    try:
        conn = sqlite3.connect(f"file:{path.resolve().as_posix()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {str(path)!r}: {exc}") from None
    try:
        try:
            columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{str(path)!r}: its table of runs cannot be read ({exc}); nothing to salvage") from None
        if not columns:
            raise StoreError(f"{str(path)!r} is not a scratchnet store (no table of runs)")
        try:
            last = conn.execute("SELECT MAX(id) FROM runs").fetchone()[0] or 0
        except sqlite3.DatabaseError:
            last = None
        if last is None:  # the index is damaged: probe ids until a long gap
            last = 10_000_000
        written = unreadable = gap = 0
        out.parent.mkdir(parents=True, exist_ok=True)
        sql = f"SELECT {', '.join(columns)} FROM runs WHERE id = ?"
        with open(out, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for run_id in range(1, last + 1):
                try:
                    row = conn.execute(sql, (run_id,)).fetchone()
                except sqlite3.DatabaseError:
                    unreadable += 1
                    continue
                if row is None:
                    gap += 1
                    if gap > 10_000:
                        break
                    continue
                gap = 0
                writer.writerow(row)
                written += 1
    finally:
        conn.close()
    return written, unreadable


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

    def _config_columns(self):
        """The configuration columns of ``runs`` that this store has (a read-only older one may lack ``arch``)."""
        return [c for c in CONFIG_COLUMNS if not (self.legacy and c in RECIPE_FIELDS) and c not in self.missing]

    def _config_sql(self, prefix=""):
        """The configuration columns of ``runs`` that this store has, for SELECT and ORDER BY."""
        return ", ".join(prefix + c for c in self._config_columns())

    # ------------------------------------------------------------ opening
    @staticmethod
    def _connect(path, readonly=False):
        """A connection; ``readonly``: without a ``-wal`` file beside it (no writer at work, nothing to replay) the
        store is opened ``immutable`` (no locks, no ``-shm``/``-wal`` created, works in read-only places), else
        ``mode=ro``."""
        path = Path(path)
        uri = _ro_uri(path) if readonly else f"file:{path.resolve().as_posix()}"
        conn = sqlite3.connect(uri, uri=True, timeout=30)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @staticmethod
    def _check_health(conn, path):
        """``PRAGMA quick_check``: a damaged store is a ``StoreError`` that says how to recover."""
        try:
            rows = conn.execute("PRAGMA quick_check(5)").fetchall()
        except sqlite3.DatabaseError as exc:
            problem = " ".join(str(exc).split())
        else:
            problem = " ".join(" ".join(str(r[0]) for r in rows if r[0] != "ok").split())
        if problem:
            raise StoreError(f"store {str(path)!r} is damaged ({problem[:200]}); {_recover_hint(path)}")

    @staticmethod
    def _read_meta(conn, path):
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            if _names_our_format(path):  # our damaged or truncated store
                raise StoreError(f"store {str(path)!r} is damaged ({exc}); {_recover_hint(path)}") from None
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
        try:
            if not readonly:  # look first without writing: a damaged store gets no -wal/-shm files beside it
                look = cls._connect(path, readonly=True)
                try:
                    cls._read_meta(look, path)
                    cls._check_health(look, path)
                finally:
                    look.close()
            conn = cls._connect(path, readonly=readonly)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {str(path)!r}: {exc}") from None
        try:
            fingerprint = cls._read_meta(conn, path)
            cls._check_health(conn, path)
            if not readonly:
                with conn:
                    conn.executescript(_CLAIMS_SCHEMA)
                cls._add_columns(conn)
                if "rung" not in {row[1] for row in conn.execute("PRAGMA table_info(claims)")}:
                    with conn:  # a claim of a store older than format 4: all are rung 0
                        conn.execute("ALTER TABLE claims ADD COLUMN rung INTEGER NOT NULL DEFAULT 0")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"store {str(path)!r} cannot be used: {exc}; {_recover_hint(path)}") from None
        except Exception:
            conn.close()
            raise
        return cls(path, conn, fingerprint)

    @staticmethod
    def _add_columns(conn):
        """Give an older store the nullable columns of ``_ADDED`` (and format version 3, that of those columns)."""
        columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        missing = [c for c in _ADDED if c not in columns]
        refits_arch = "arch" in {row[1] for row in conn.execute("PRAGMA table_info(refits)")}
        rungs = {row[1] for row in conn.execute("PRAGMA table_info(rungs)")}  # empty: no rungs table
        rungs_arch = not rungs or "arch" in rungs
        if not missing and refits_arch and rungs_arch:
            return
        try:
            with conn:
                for c in missing:
                    conn.execute(f"ALTER TABLE runs ADD COLUMN {c} {_ADDED[c]}")
                for table, has in (("refits", refits_arch), ("rungs", rungs_arch)):
                    if not has:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN arch {_ADDED['arch']}")
                # format 3 is what the added columns make of an older store (the rungs of format 4 it gains are
                # empty); a newer one keeps its number
                conn.execute("UPDATE meta SET value = '3' WHERE key = 'format_version' AND CAST(value AS INTEGER) < 3")
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
        if path.exists() and not _is_empty_database(path):
            try:
                store = cls.open(path, readonly=False)
            except StoreError:
                if not (new and _names_our_format(path)):
                    raise
                store = None  # a damaged scratchnet store may be started over
            if new:
                busy = _live_owners_of(path)
                if busy:
                    if store is not None:
                        store.close()
                    raise StoreError(
                        f"store {str(path)!r} is in use by another tune ({busy}); --new would delete its work: stop "
                        "it first, or use another --store"
                    )
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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = cls._connect(path)
            created = cls._create_schema(conn, fingerprint)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot create store {str(path)!r}: {exc}; choose a writable place with --store"
            ) from None
        if not created:  # another process made it first, between our look and our lock
            conn.close()
            return cls.create_or_open(path, fingerprint, new=False)
        return cls(path, conn, fingerprint)

    @staticmethod
    def _create_schema(conn, fingerprint):
        """Make the tables of a new store in one ``BEGIN IMMEDIATE`` transaction; False if another process did."""
        conn.isolation_level = None
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                conn.execute("ROLLBACK")
                return False
            for statement in (_SCHEMA + _CLAIMS_SCHEMA).split(";"):
                if statement.strip():
                    conn.execute(statement)
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
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.isolation_level = ""
        conn.execute("PRAGMA journal_mode = WAL")
        return True

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_columns(self) -> list[str]:
        """The columns of ``RUN_COLUMNS`` this store has: a format-1 store lacks the recipe's, a read-only older one
        the ``_ADDED`` ones."""
        return [c for c in RUN_COLUMNS if not (self.legacy and c in RECIPE_FIELDS) and c not in self.missing]

    # -------------------------------------------------------------- writing
    def add_runs(self, results: Iterable[dict[str, Any]]) -> int:
        """Commit finished trainings in one transaction; a (config, fold) already stored is kept as is.

        ``results``: dicts with the keys of ``RUN_COLUMNS`` (except ``finished_at``;
        recipe keys default to the article's) and ``history``, a DataFrame with
        ``epoch`` and the ``METRICS`` and ``seconds`` columns. Returns the number of new rows.
        """
        added = 0
        columns = self._run_columns()
        sql = f"INSERT OR IGNORE INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        with self.conn:
            for r in results:
                history = r["history"]
                last = history.iloc[-1] if len(history) else {m: float("nan") for m in METRICS}
                diverged = r.get("diverged_epoch")
                if diverged is not None and "diverged_epoch" in self.missing:
                    raise StoreError(f"store {str(self.path)!r} is read-only and predates diverged trainings")
                if r.get("arch") and "arch" in self.missing:
                    raise StoreError(f"store {str(self.path)!r} is read-only and predates architectures")
                values = {
                    "hidden_layers": int(r["hidden_layers"]),
                    "hidden_nodes": int(r["hidden_nodes"]),
                    "learning_rate": float(r["learning_rate"]),
                    **self._recipe_of(r),
                    "arch": str(r.get("arch") or ""),
                    "fold": int(r["fold"]),
                    "init_seed": int(r["init_seed"]),
                    "batch_seed": int(r["batch_seed"]),
                    "epochs": len(history),
                    **{m: _real(last[m]) for m in METRICS},
                    "seconds": float(r["seconds"]),
                    "group_size": int(r.get("group_size", 1)),
                    "group_seconds": float(r.get("group_seconds", r["seconds"])),
                    "finished_at": _now(),
                    "diverged_epoch": None if diverged is None else int(diverged),
                    # the engine's first layer and its timings (engine.choose_first_layer), as JSON; None: not recorded
                    "first_layer": None if r.get("first_layer") is None else json.dumps(r["first_layer"]),
                }
                if r.get("rung") is not None:
                    added += self._add_rung(r, values)
                    if not r.get("final"):  # only the last rung's trainings are runs
                        continue
                cur = self.conn.execute(sql, tuple(values[c] for c in columns))
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

    def _add_rung(self, r: dict[str, Any], values: dict[str, Any]) -> int:
        """Insert the rung row of the result ``r`` (``values``: its ``runs`` columns) unless stored; 1 if new."""
        columns = [*RUNG_COLUMNS, "state"]
        row = {**values, "rung": int(r["rung"]), "state": r.get("state")}
        cur = self.conn.execute(
            f"INSERT OR IGNORE INTO rungs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            tuple(row[c] for c in columns),
        )
        return 0 if r.get("final") else cur.rowcount

    def add_refit(self, record: dict[str, Any]) -> None:
        """Record a refit of the best configuration (a dict with the columns of ``refits``)."""
        recipe = self._recipe_of(record)
        recipe_columns = [] if self.legacy else RECIPE_FIELDS
        arch = [] if "arch" in self.missing else ["arch"]
        columns = [
            "hidden_layers",
            "hidden_nodes",
            "learning_rate",
            *recipe_columns,
            *arch,
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
                    *(str(record.get("arch") or "") for _ in arch),
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

    def finished(self, rung: int | None = None) -> set[tuple[Config, int]]:
        """The set of ``(Config, fold)`` already stored: in ``runs``, or trained up to ``rung`` (successive halving)."""
        if rung is None:
            rows = self.conn.execute(f"SELECT {self._config_sql()}, fold FROM runs").fetchall()
        else:
            rows = self.conn.execute(f"SELECT {self._config_sql()}, fold FROM rungs WHERE rung = ?", (rung,)).fetchall()
        columns = self._config_columns()
        return {(Config.from_row({**self._recipe, "arch": "", **dict(zip(columns, r[:-1]))}), int(r[-1])) for r in rows}

    def _query(self, sql: str) -> pd.DataFrame:
        """``pd.read_sql_query`` that turns a damaged database into a ``StoreError`` saying how to recover."""
        try:
            return pd.read_sql_query(sql, self.conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"store {str(self.path)!r} is damaged ({exc}); {_recover_hint(self.path)}") from None

    def runs(self) -> pd.DataFrame:
        """One row per finished training (``RUN_COLUMNS``), ordered by configuration and fold."""
        columns = self._run_columns()
        frame = self._with_recipe(
            self._query(f"SELECT {', '.join(columns)} FROM runs ORDER BY {self._config_sql()}, fold")
        )
        for c in self.missing:
            frame[c] = "" if c == "arch" else None
        frame["diverged_epoch"] = frame["diverged_epoch"].astype("Int64")
        return frame

    def epochs(self) -> pd.DataFrame:
        """Every stored epoch: configuration, fold, epoch and its metrics."""
        frame = self._with_recipe(
            self._query(
                f"SELECT {self._config_sql('r.')}, r.fold, e.epoch, "
                + ", ".join(f"e.{m}" for m in METRICS)
                + f", e.seconds FROM epochs e JOIN runs r ON r.id = e.run_id "
                f"ORDER BY {self._config_sql('r.')}, r.fold, e.epoch"
            )
        )
        if "arch" in self.missing:
            frame.insert(frame.columns.get_loc("fold"), "arch", "")
        return frame

    def _has_rungs(self) -> bool:
        return bool(self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rungs'").fetchone())

    def rung_runs(self) -> pd.DataFrame:
        """One row per training of successive halving up to a rung (``RUNG_COLUMNS``, without the states)."""
        if not self._has_rungs():
            return pd.DataFrame(columns=RUNG_COLUMNS)
        frame = self._query(f"SELECT {', '.join(RUNG_COLUMNS)} FROM rungs ORDER BY rung, {self._config_sql()}, fold")
        frame["diverged_epoch"] = frame["diverged_epoch"].astype("Int64")
        return frame

    def rung_states(self, rung: int, items: Iterable[tuple[Config, int]]) -> dict[tuple[Config, int], bytes]:
        """``{(Config, fold): state}`` of those ``items`` trained up to ``rung`` that have a saved state."""
        sql = "SELECT state FROM rungs WHERE rung = ? AND fold = ? AND " + " AND ".join(
            f"{c} = ?" for c in CONFIG_COLUMNS
        )
        out = {}
        for config, fold in items:
            row = self.conn.execute(sql, (int(rung), int(fold), *(config.row()[c] for c in CONFIG_COLUMNS))).fetchone()
            if row and row[0] is not None:
                out[(config, fold)] = bytes(row[0])
        return out

    def refits(self) -> pd.DataFrame:
        frame = self._with_recipe(self._query("SELECT * FROM refits ORDER BY id"))
        if "arch" not in frame.columns:  # a read-only store from before architectures
            frame.insert(frame.columns.get_loc("epochs"), "arch", "")
        return frame
