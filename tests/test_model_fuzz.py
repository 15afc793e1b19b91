"""Hostile and damaged model files: every one a clean ``ValueError`` (or a correct load), fast and in bounded memory.

Issue 14, trap 1 and 2: a header asking for a huge network, garbage in an
entry, a deeply nested header, unknown compression, the encrypted flag,
damaged deflate data, zip bombs and huge histories.
"""

import io
import json
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from scratchnet import MultilayerNeuralNetClassifier
from scratchnet.errors import ModelFileError
from scratchnet.estimator import read_estimator

SECONDS = 5.0
PEAK_BYTES = 300 * 2**20


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    net = MultilayerNeuralNetClassifier([64, 12, 10], random_seed=0)
    path = net.save(folder / "model.npz")
    return path.read_bytes()


def _entries(raw):
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _zip(entries, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _header(raw):
    with np.load(io.BytesIO(raw)) as data:
        return json.loads(str(data["header"][()]))


def _with_header(raw, **changes):
    entries = _entries(raw)
    entries["header.npy"] = _npy(np.array(json.dumps({**_header(raw), **changes})))
    return _zip(entries)


def _load_bounded(path):
    """Load ``path``: None if it loads, else the ModelFileError; asserts it stays within time and memory."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        read_estimator(path)
        outcome = None
    except ModelFileError as exc:
        outcome = exc
    finally:
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert seconds < SECONDS, f"{path.name}: {seconds:.1f} s"
    assert peak < PEAK_BYTES, f"{path.name}: {peak / 2**20:.0f} MB"
    if outcome is not None:
        assert str(path) in str(outcome)
        assert "\n" not in str(outcome)
    return outcome


def _hostile(raw):
    """Named hostile copies of a model file (the cases of the issue and more)."""
    entries = _entries(raw)
    cases = {
        "huge layers": _with_header(raw, layers=[64, 20000, 20000, 10]),
        "enormous layers": _with_header(raw, layers=[64, 10**12, 10]),
        "many layers": _with_header(raw, layers=[64] * 5000),
        "layers of floats": _with_header(raw, layers=[64.0, 12.0, 10.0]),
        "layers of bools": _with_header(raw, layers=[True, True]),
        "dtype float16": _with_header(raw, dtype="float16"),
        "nested header": _zip({**entries, "header.npy": _npy(np.array("[" * 100_000 + "]" * 100_000))}),
        "nested header 20": _with_header(raw, preprocessing=json.loads("[" * 20 + "]" * 20)),
        "header a list": _zip({**entries, "header.npy": _npy(np.array("[1, 2]"))}),
        "header of numbers": _zip({**entries, "header.npy": _npy(np.arange(3))}),
        "header bytes": _zip({**entries, "header.npy": _npy(np.array(b"{}"))}),
        "garbage weights": _zip({**entries, "W1.npy": b"\x93NUMPY garbage" * 10}),
        "weights not npy": _zip({**entries, "W1.npy": b"hello"}),
        "weights empty": _zip({**entries, "W1.npy": b""}),
        "weights hostile npy header": _zip({**entries, "W1.npy": b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 65535}),
        "weights nested npy header": _zip({**entries, "W1.npy": b"\x93NUMPY\x01\x00\xff\x0f" + b"(" * 4095}),
        "weights int": _zip({**entries, "W1.npy": _npy(np.zeros((64, 12), dtype=np.int64))}),
        "weights complex": _zip({**entries, "W1.npy": _npy(np.zeros((64, 12), dtype=complex))}),
        "weights wrong shape": _zip({**entries, "W1.npy": _npy(np.zeros((12, 64)))}),
        "weights lying header": _zip({**entries, "W1.npy": _npy(np.zeros((64, 12)))[:-100]}),
        "weights huge claim": _zip(
            {**entries, "W1.npy": _npy(np.zeros((64, 12))).replace(b"(64, 12)", b"(64000000, 12)", 1)}
        ),
        "added entry": _zip({**entries, "evil.npy": _npy(np.zeros(3))}),
        "added W3": _zip({**entries, "W3.npy": _npy(np.zeros((10, 10)))}),
        "missing W2": _zip({k: v for k, v in entries.items() if k != "W2.npy"}),
        "duplicate entry": _zip(entries) + b"",
        "history 3M rows": _zip({**entries, "history.npy": _npy(np.zeros((3_000_000, 6)))}, zipfile.ZIP_DEFLATED),
        "history ints": _zip({**entries, "history.npy": _npy(np.zeros((3, 6), dtype=np.int64))}),
        "bomb entry": _zip({**entries, "bomb.npy": b"\0" * (64 * 2**20)}, zipfile.ZIP_DEFLATED),
        "bomb weights": _zip({**entries, "W1.npy": _npy(np.zeros((4096, 4096)))}, zipfile.ZIP_DEFLATED),
        "too many entries": _zip({**entries, **{f"x{i}.npy": b"" for i in range(3000)}}),
        "empty zip": _zip({}),
        "no header": _zip({k: v for k, v in entries.items() if k != "header.npy"}),
    }
    deflated = bytearray(_zip(entries, zipfile.ZIP_DEFLATED))
    cut = bytearray(deflated)
    for i in range(200, 600):
        cut[i] ^= 0x5A
    cases["damaged deflate"] = bytes(cut)
    # an unknown compression method and the encrypted flag, patched in the local and central headers
    for label, offset, value in (("compression 99", 8, b"\x63\x00"), ("encrypted", 6, b"\x01\x00")):
        data = bytearray(raw)
        central = data.rfind(b"PK\x01\x02")
        while central != -1:
            data[central + offset + 2 : central + offset + 4] = value
            central = data.rfind(b"PK\x01\x02", 0, central)
        cases[label] = bytes(data)
    dup = io.BytesIO()
    with zipfile.ZipFile(dup, "w") as zf, pytest.warns(UserWarning):
        for name, data in entries.items():
            zf.writestr(name, data)
        zf.writestr("W1.npy", _npy(np.zeros((64, 12))))
    cases["duplicate entry"] = dup.getvalue()
    return cases


def test_hostile_files_are_refused_quickly(tmp_path, model_bytes):
    for name, data in _hostile(model_bytes).items():
        path = tmp_path / (name.replace(" ", "_") + ".npz")
        path.write_bytes(data)
        outcome = _load_bounded(path)
        assert outcome is not None, f"{name}: loaded"


def test_a_33_kb_file_asking_for_a_huge_network_is_refused_before_allocating(tmp_path, model_bytes):
    path = tmp_path / "huge.npz"
    path.write_bytes(_with_header(model_bytes, layers=[64, 20000, 20000, 10]))
    outcome = _load_bounded(path)
    assert outcome is not None and "parameters" in str(outcome)


def test_fuzzed_copies_load_or_fail_cleanly(tmp_path, model_bytes):
    rng = np.random.default_rng(14)
    raw = np.frombuffer(model_bytes, dtype=np.uint8)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(300):
        data = raw.copy()
        kind = i % 3
        if kind == 0:  # byte flips
            at = rng.integers(0, len(data), size=rng.integers(1, 9))
            data[at] ^= rng.integers(1, 256, size=len(at), dtype=np.uint8)
        elif kind == 1:  # truncation
            data = data[: rng.integers(0, len(data))]
        else:  # a run of random bytes
            start = rng.integers(0, len(data))
            data[start : start + 64] = rng.integers(0, 256, size=len(data[start : start + 64]), dtype=np.uint8)
        path = tmp_path / f"fuzz{i}.npz"
        path.write_bytes(data.tobytes())
        outcomes["loaded" if _load_bounded(path) is None else "refused"] += 1
        path.unlink()
    assert outcomes["refused"] > 100
