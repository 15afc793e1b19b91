"""The architecture language: a network written as a line of layers.

Layers are separated by spaces; each is ``name`` or ``name(args)`` with Python-style
positional and keyword arguments, literals only::

    conv(32, 3, padding=1) relu maxpool(2) conv(64, 3, padding=1) relu maxpool(2)
    flatten dropout(0.25) dense(128) relu dropout(0.5) dense(10)

Layer names: ``dense(n_out)``, ``conv(out_channels, kernel_size, stride=1, padding=0)``,
``maxpool(k, stride=k)``, ``avgpool(k, stride=k)``, ``globalavgpool``, ``flatten``,
``dropout(p)``, ``batchnorm``, every hidden activation (``sigmoid``, ``tanh``, ``relu``,
``leaky_relu``, ``identity``) and ``residual(BODY)``, a skip connection around BODY,
itself a line of layers, with an optional ``shortcut="identity"|"projection"`` after a
comma: ``residual(conv(16, 3, padding=1) relu conv(16, 3, padding=1)) relu``. Without
it the shortcut is the identity when the body keeps the shape, else a projection.

A spec may also be the name of a built-in architecture (``ARCHITECTURES``: ``lenet5``,
``cnn`` …) or the path of a JSON file holding a spec string, a list of layer strings,
or an object with an ``"arch"`` entry holding either.

Arguments are read with ``ast.literal_eval``: nothing in a spec is ever executed.
Every mistake is an ``InvalidValueError`` of one line naming the layer.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from .errors import InvalidValueError
from .layers import make_layer

ARCHITECTURES = {
    "lenet5": (
        "conv(6, 5, padding=2) tanh avgpool(2) conv(16, 5) tanh avgpool(2) flatten "
        "dense(120) tanh dense(84) tanh dense(10)"
    ),
    "cnn": (
        "conv(32, 3, padding=1) relu maxpool(2) conv(64, 3, padding=1) relu maxpool(2) flatten "
        "dropout(0.25) dense(128) relu dropout(0.5) dense(10)"
    ),
    "resnet_small": (
        "conv(16, 3, padding=1) batchnorm relu "
        "residual(conv(16, 3, padding=1) batchnorm relu conv(16, 3, padding=1) batchnorm) relu "
        "residual(conv(32, 3, stride=2, padding=1) batchnorm relu conv(32, 3, padding=1) batchnorm) relu "
        "globalavgpool dense(10)"
    ),
    "mlp_residual": "flatten dense(64) relu residual(dense(64) relu dense(64)) relu dense(10)",
}
"""Named architectures (for 28×28 one-channel images and 10 classes; any input that fits)."""


def split_layers(spec):
    """A spec line → the text of each top-level layer (parentheses and quotes respected)."""
    tokens, current, depth, quote = [], [], 0, None
    i, n = 0, len(spec)
    while i < n:
        ch = spec[i]
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "(":
            depth += 1
            current.append(ch)
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise InvalidValueError(f"arch: unbalanced ')' after {''.join(current).strip() or spec[:i]!r}")
            current.append(ch)
        elif ch.isspace() and depth == 0:
            j = i
            while j < n and spec[j].isspace():
                j += 1
            if j < n and spec[j] == "(" and current:  # "conv (32, 3)": the arguments belong to the name
                i = j
                continue
            if current:
                tokens.append("".join(current))
                current = []
            i = j
            continue
        else:
            current.append(ch)
        i += 1
    if quote or depth:
        raise InvalidValueError(f"arch: unclosed {'quote' if quote else 'parenthesis'} in {''.join(current)!r}")
    if current:
        tokens.append("".join(current))
    return tokens


def _split_top_commas(text):
    parts, current, depth, quote = [], [], 0, None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(" or ch == "[":
            depth += 1
        elif ch == ")" or ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _call_args(name, inner, token):
    """``inner`` (the text between the parentheses) → positional and keyword literals."""
    try:
        call = ast.parse(f"_({inner})", mode="eval").body
    except SyntaxError:
        raise InvalidValueError(f"arch: layer {token!r}: its arguments are not valid Python syntax") from None
    if not isinstance(call, ast.Call) or any(isinstance(a, ast.Starred) for a in call.args):
        raise InvalidValueError(f"arch: layer {token!r}: arguments must be plain values")
    try:
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {}
        for kw in call.keywords:
            if kw.arg is None:
                raise ValueError
            kwargs[kw.arg] = ast.literal_eval(kw.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise InvalidValueError(
            f"arch: layer {token!r}: arguments must be literals (numbers, strings, tuples), not expressions"
        ) from None
    return args, kwargs


def parse_layer(token):
    """One layer's text (``conv(32, 3, padding=1)``) → a new layer object."""
    token = token.strip()
    open_at = token.find("(")
    if open_at == -1:
        name, inner = token, None
    else:
        if not token.endswith(")"):
            raise InvalidValueError(f"arch: layer {token!r}: text after its closing parenthesis")
        name, inner = token[:open_at].strip(), token[open_at + 1 : -1]
    key = name.lower().replace("-", "_")
    if not key.isidentifier():
        raise InvalidValueError(f"arch: {token!r} is not a layer (expected name or name(args))")
    if key == "residual":
        if inner is None or not inner.strip():
            raise InvalidValueError("arch: layer 'residual' needs a body: residual(conv(16, 3, padding=1) relu …)")
        body_text, *rest = _split_top_commas(inner)
        args, kwargs = _call_args(key, ", ".join(rest), token) if rest else ([], {})
        if args:
            raise InvalidValueError(f"arch: layer {token!r}: after the body only shortcut=… may follow")
        body = parse_arch(body_text, where=f"residual body of {token!r}")
        try:
            return make_layer("residual", body, **kwargs)
        except InvalidValueError as exc:
            raise InvalidValueError(f"arch: layer {token!r}: {exc}") from None
    args, kwargs = _call_args(key, inner, token) if inner is not None else ([], {})
    try:
        return make_layer(key, *args, **kwargs)
    except InvalidValueError as exc:
        raise InvalidValueError(f"arch: layer {token!r}: {exc}") from None


def resolve(spec):
    """A named architecture or a JSON file → its spec line; any other string unchanged."""
    if not isinstance(spec, str):
        raise InvalidValueError(f"arch must be a string (a spec, a name or a .json path), got {type(spec).__name__}")
    text = spec.strip()
    if text.lower() in ARCHITECTURES:
        return ARCHITECTURES[text.lower()]
    if text.lower().endswith(".json"):
        path = Path(text)
        if not path.is_file():
            raise InvalidValueError(f"arch: file {text!r} does not exist")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidValueError(f"arch: file {text!r} is not readable JSON: {exc}") from None
        if isinstance(data, dict):
            data = data.get("arch")
        if isinstance(data, list) and all(isinstance(x, str) for x in data):
            return " ".join(data)
        if isinstance(data, str):
            return data
        raise InvalidValueError(
            f"arch: file {text!r} must hold a spec string, a list of layer strings or {{'arch': …}}"
        )
    return text


def parse_arch(spec, where="arch"):
    """A spec (line, name or JSON path) → a list of new, unbuilt layers."""
    text = resolve(spec)
    tokens = split_layers(text)
    if not tokens:
        raise InvalidValueError(f"{where}: empty architecture; give at least one layer, e.g. 'dense(10)'")
    return [parse_layer(t) for t in tokens]


def format_arch(layers):
    """Layers → their spec line (parsing it back gives the same architecture)."""
    return " ".join(layer.spec() for layer in layers)
