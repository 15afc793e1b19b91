"""Layer types for networks built from layers: dense, conv, pooling, batchnorm, dropout, activations, residual.

Every layer maps a batch ``x`` of shape ``(N, *input_shape)`` to ``(N, *output_shape)``:

* ``build(input_shape, dtype, rng)`` infers the output shape (``output_shape``), checks
  that the input fits (else an ``InvalidValueError`` saying why) and draws the
  parameters; it returns the output shape.
* ``forward(x, training)`` keeps what backward needs; ``backward(grad_out)`` takes
  ``∂L/∂output`` and returns ``∂L/∂input`` (``None`` when ``needs_input_grad`` is
  off, for the first layer), filling ``grads`` with ``∂L/∂θ`` for every array of
  ``params`` (same names, same shapes).
* ``params``: named arrays, updated in place by an optimiser; ``buffers``: named
  arrays that are state but not trained (batchnorm's running statistics).
* ``spec()``: the layer written in the architecture language (``scratchnet.archspec``).

Conventions (those of PyTorch, so that weights can be carried over): images are
``(N, C, H, W)``; conv weights ``W`` are ``(out_channels, in_channels, kh, kw)``;
``flatten`` keeps the (C, H, W) order; dense weights are ``(nᵏ⁻¹, nᵏ)`` as in the
article (``Z = A·W + b``; PyTorch's ``Linear.weight`` is its transpose); pooling has
no padding. The maths of every backward pass is in ``docs/cnn.md``.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .activations import ACTIVATIONS
from .convkernels import (
    avgpool_backward,
    avgpool_forward,
    col2im_t,
    im2col_t,
    maxpool_backward,
    maxpool_forward,
    run,
)
from .errors import InvalidTypeError, InvalidValueError
from .inits import ALIASES as INIT_ALIASES
from .inits import INITS
from .network import draw_dropout_mask_

BATCHNORM_MOMENTUM = 0.1
"""Running statistics: ``r ← (1 − m)·r + m·batch statistic``, m = 0.1 as in PyTorch."""
BATCHNORM_EPS = 1e-5


def _int(value, what, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidValueError(f"{what} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _pair(value, what, minimum=1):
    """An int or a pair of ints → ``(h, w)``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InvalidValueError(f"{what} must be an integer or a pair of integers, got {value!r}")
        return (_int(value[0], what, minimum), _int(value[1], what, minimum))
    v = _int(value, what, minimum)
    return (v, v)


def _fmt_pair(p):
    return str(p[0]) if p[0] == p[1] else f"({p[0]}, {p[1]})"


def _check_init(init):
    if init == "torch":
        return init
    if not isinstance(init, str):
        raise InvalidTypeError(f"init must be a name, got {init!r}")
    key = INIT_ALIASES.get(init.lower(), init.lower())
    if key not in INITS:
        raise InvalidValueError(f"unknown init {init!r}; choose one of torch, {', '.join(sorted(INITS))}")
    return key


def _draw(init, rng, shape, fan_in, fan_out, dtype):
    """Weights and bias: ``"torch"`` = U(−1/√fan_in, 1/√fan_in) for both (PyTorch's default for
    Linear and Conv2d); a name of ``scratchnet.inits.INITS`` = N(0, s²) weights, zero bias."""
    if init == "torch":
        bound = 1.0 / math.sqrt(fan_in)
        W = rng.uniform(-bound, bound, size=shape).astype(dtype)
        b = rng.uniform(-bound, bound, size=shape[:1] if len(shape) == 4 else shape[1:]).astype(dtype)
        return W, b
    s = INITS[init](fan_in, fan_out)
    W = (rng.standard_normal(shape) * s).astype(dtype)
    b = np.zeros(shape[:1] if len(shape) == 4 else shape[1:], dtype=dtype)
    return W, b


class Layer:
    """Base: a layer without parameters that passes shapes through unchanged."""

    kind = "layer"

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.input_shape = None
        self.out_shape = None
        self.dtype = np.dtype(np.float64)
        self.needs_input_grad = True

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def build(self, input_shape, dtype=np.float64, rng=None):
        self.input_shape = tuple(int(d) for d in input_shape)
        self.out_shape = tuple(self.output_shape(self.input_shape))
        self.dtype = np.dtype(dtype)
        self._init_params(np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng)
        return self.out_shape

    def _init_params(self, rng):
        pass

    def spec(self):
        return self.kind

    def __repr__(self):
        return self.spec()

    def named_params(self, prefix=""):
        """``(name, array)`` for every parameter, names prefixed (``"layers.3.W"``)."""
        return [(prefix + k, v) for k, v in self.params.items()]

    def named_grads(self, prefix=""):
        return [(prefix + k, self.grads[k]) for k in self.params]

    def named_buffers(self, prefix=""):
        return [(prefix + k, v) for k, v in self.buffers.items()]

    def sublayers(self):
        return []

    def forward(self, x, training=False):
        return x

    def backward(self, grad_out):
        return grad_out


# --------------------------------------------------------------------- dense
class Dense(Layer):
    """``Z = A·W + b`` with ``W`` (nᵏ⁻¹, nᵏ) and ``b`` (nᵏ,): the article's layer, without its activation."""

    kind = "dense"

    def __init__(self, n_out, init="torch"):
        super().__init__()
        self.n_out = _int(n_out, "dense: n_out")
        self.init = _check_init(init)

    def output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise InvalidValueError(
                f"needs flat input (n,), got shape {tuple(input_shape)}; put flatten (or globalavgpool) before it"
            )
        return (self.n_out,)

    def _init_params(self, rng):
        n_in = self.input_shape[0]
        W, b = _draw(self.init, rng, (n_in, self.n_out), n_in, self.n_out, self.dtype)
        self.params = {"W": W, "b": b}

    def spec(self):
        return f"dense({self.n_out})" if self.init == "torch" else f"dense({self.n_out}, init={self.init!r})"

    def forward(self, x, training=False):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad_out):
        self.grads = {"W": self.x.T @ grad_out, "b": grad_out.sum(axis=0)}
        self.x = None
        if not self.needs_input_grad:
            return None
        return grad_out @ self.params["W"].T


# ---------------------------------------------------------------------- conv
def _out_size(size, k, stride, padding):
    return (size + 2 * padding - k) // stride + 1


class Conv(Layer):
    """2-D convolution (cross-correlation, as PyTorch's ``Conv2d``) by im2col + one GEMM.

    ``W`` (O, C, kh, kw), ``b`` (O,). The input (N, C, H, W), zero-padded by ``padding``,
    is unrolled into ``X̃`` (N·Hₒ·Wₒ, C·kh·kw), one row per output pixel; then
    ``Z̃ = X̃ · W̃ᵀ + b`` with ``W̃`` = W reshaped (O, C·kh·kw) is the article's
    ``Z = A·W + b`` with ``W̃ᵀ`` in the place of W. The code keeps the transposes
    ``X̃ᵀ`` and ``Z̃ᵀ`` (see ``scratchnet.convkernels``): ``Z̃ᵀ = W̃ · X̃ᵀ``;
    backward ``∂L/∂W̃ = ∂L/∂Z̃ᵀ · X̃``, ``∂L/∂X̃ᵀ = W̃ᵀ · ∂L/∂Z̃ᵀ``, then col2im.
    """

    kind = "conv"

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, init="torch"):
        super().__init__()
        self.out_channels = _int(out_channels, "conv: out_channels")
        self.kernel = _pair(kernel_size, "conv: kernel_size")
        self.stride = _pair(stride, "conv: stride")
        self.padding = _pair(padding, "conv: padding", minimum=0)
        self.init = _check_init(init)

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise InvalidValueError(f"needs images (C, H, W), got shape {tuple(input_shape)}")
        _C, H, W = input_shape
        Ho = _out_size(H, self.kernel[0], self.stride[0], self.padding[0])
        Wo = _out_size(W, self.kernel[1], self.stride[1], self.padding[1])
        if Ho < 1 or Wo < 1:
            raise InvalidValueError(
                f"kernel {self.kernel[0]}×{self.kernel[1]} does not fit the input {H}×{W} "
                f"(padding {_fmt_pair(self.padding)}); the output would be {Ho}×{Wo}"
            )
        return (self.out_channels, Ho, Wo)

    def _init_params(self, rng):
        C = self.input_shape[0]
        kh, kw = self.kernel
        shape = (self.out_channels, C, kh, kw)
        W, b = _draw(self.init, rng, shape, C * kh * kw, self.out_channels * kh * kw, self.dtype)
        self.params = {"W": W, "b": b}

    def spec(self):
        s = f"conv({self.out_channels}, {_fmt_pair(self.kernel)}"
        if self.stride != (1, 1):
            s += f", stride={_fmt_pair(self.stride)}"
        if self.padding != (0, 0):
            s += f", padding={_fmt_pair(self.padding)}"
        if self.init != "torch":
            s += f", init={self.init!r}"
        return s + ")"

    def forward(self, x, training=False):
        N = x.shape[0]
        O, Ho, Wo = self.output_shape(x.shape[1:])
        cols = np.empty((self.params["W"][0].size, N * Ho * Wo), dtype=x.dtype)  # X̃ᵀ (C·kh·kw, N·Hₒ·Wₒ)
        run(im2col_t, cols.size, x, *self.kernel, *self.stride, *self.padding, Ho, Wo, cols)
        z = self.params["W"].reshape(O, -1) @ cols  # Z̃ᵀ = W̃ · X̃ᵀ, (O, N·Hₒ·Wₒ)
        z += self.params["b"][:, None]
        self.cols, self.xshape = cols, x.shape
        return z.reshape(O, N, Ho, Wo).transpose(1, 0, 2, 3)

    def backward(self, grad_out):
        N, O, Ho, Wo = grad_out.shape
        g = np.ascontiguousarray(grad_out.transpose(1, 0, 2, 3)).reshape(O, N * Ho * Wo)  # ∂L/∂Z̃ᵀ
        W = self.params["W"]
        self.grads = {"W": (g @ self.cols.T).reshape(W.shape), "b": g.sum(axis=1)}
        self.cols = None
        if not self.needs_input_grad:
            return None
        dcols = W.reshape(O, -1).T @ g  # ∂L/∂X̃ᵀ = W̃ᵀ · ∂L/∂Z̃ᵀ, (C·kh·kw, N·Hₒ·Wₒ)
        dx = np.zeros(self.xshape, dtype=grad_out.dtype)
        run(col2im_t, dcols.size, dcols, *self.kernel, *self.stride, *self.padding, Ho, Wo, dx)
        return dx


# ------------------------------------------------------------------- pooling
class _Pool(Layer):
    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel = _pair(kernel_size, f"{self.kind}: kernel_size")
        self.stride = self.kernel if stride is None else _pair(stride, f"{self.kind}: stride")

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise InvalidValueError(f"needs images (C, H, W), got shape {tuple(input_shape)}")
        C, H, W = input_shape
        Ho, Wo = _out_size(H, self.kernel[0], self.stride[0], 0), _out_size(W, self.kernel[1], self.stride[1], 0)
        if Ho < 1 or Wo < 1:
            raise InvalidValueError(f"window {self.kernel[0]}×{self.kernel[1]} does not fit the input {H}×{W}")
        return (C, Ho, Wo)

    def spec(self):
        s = f"{self.kind}({_fmt_pair(self.kernel)}"
        if self.stride != self.kernel:
            s += f", stride={_fmt_pair(self.stride)}"
        return s + ")"


class MaxPool(_Pool):
    """Maximum over each kh×kw window (stride = kernel unless given); backward routes the gradient
    to the first maximum of each window (its argmax index, as PyTorch)."""

    kind = "maxpool"

    def forward(self, x, training=False):
        C, Ho, Wo = self.output_shape(x.shape[1:])
        out = np.empty((x.shape[0], C, Ho, Wo), dtype=x.dtype)
        self.idx = np.empty(out.shape, dtype=np.int32)
        run(maxpool_forward, x.size, x, *self.kernel, *self.stride, Ho, Wo, out, self.idx)
        self.xshape = x.shape
        return out

    def backward(self, grad_out):
        dx = np.zeros(self.xshape, dtype=grad_out.dtype)
        run(maxpool_backward, dx.size, grad_out, self.idx, *self.kernel, *self.stride, dx)
        self.idx = None
        return dx


class AvgPool(_Pool):
    """Mean over each kh×kw window; backward spreads ``∂L/∂out / (kh·kw)`` over the window."""

    kind = "avgpool"

    def forward(self, x, training=False):
        C, Ho, Wo = self.output_shape(x.shape[1:])
        out = np.empty((x.shape[0], C, Ho, Wo), dtype=x.dtype)
        run(avgpool_forward, x.size, x, *self.kernel, *self.stride, Ho, Wo, out)
        self.xshape = x.shape
        return out

    def backward(self, grad_out):
        dx = np.zeros(self.xshape, dtype=grad_out.dtype)
        run(avgpool_backward, dx.size, grad_out, *self.kernel, *self.stride, dx)
        return dx


class GlobalAvgPool(Layer):
    """(N, C, H, W) → (N, C): the mean of each channel."""

    kind = "globalavgpool"

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise InvalidValueError(f"needs images (C, H, W), got shape {tuple(input_shape)}")
        return (input_shape[0],)

    def forward(self, x, training=False):
        self.xshape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, grad_out):
        _N, _C, H, W = self.xshape
        return np.broadcast_to((grad_out / (H * W))[:, :, None, None], self.xshape).copy()


class Flatten(Layer):
    """(N, C, H, W) → (N, C·H·W) in (C, H, W) order, as PyTorch's ``flatten(1)``."""

    kind = "flatten"

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False):
        self.xshape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_out):
        return grad_out.reshape(self.xshape)


# ------------------------------------------------------------ regularisation
class Dropout(Layer):
    """Inverted dropout: while training, each value is kept with probability 1 − p and scaled by
    1/(1 − p); at inference the layer is the identity. Masks are drawn from ``self.rng``
    (the model seeds it per epoch)."""

    kind = "dropout"

    def __init__(self, p=0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise InvalidValueError(f"dropout: p must lie in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = np.random.default_rng()

    def spec(self):
        return f"dropout({self.p!r})"

    def forward(self, x, training=False):
        if not training or self.p == 0:
            self.mask = None
            return x
        # The article network's mask function, so a dropout layer after dense+activation draws
        # exactly the masks of ``MultilayerNeuralNetClassifier.forward_train`` (and of the engine).
        self.mask = draw_dropout_mask_(np.empty(x.shape, dtype=x.dtype), self.rng, self.p)
        return x * self.mask

    def backward(self, grad_out):
        return grad_out if self.mask is None else grad_out * self.mask


class BatchNorm(Layer):
    """Batch normalisation over the batch (dense input (N, n)) or the batch and the pixels (conv input
    (N, C, H, W), per channel): ``y = γ ⊙ (x − μ)/√(σ² + ε) + β``.

    Training uses the batch's mean and (biased) variance and updates the running
    statistics with momentum m = 0.1 (the running variance with the unbiased batch
    variance, as PyTorch); inference uses the running statistics.
    """

    kind = "batchnorm"

    def __init__(self, momentum=BATCHNORM_MOMENTUM, eps=BATCHNORM_EPS):
        super().__init__()
        for name, v in (("momentum", momentum), ("eps", eps)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
                raise InvalidValueError(f"batchnorm: {name} must lie in (0, 1], got {v!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self.update_stats = True

    def spec(self):
        args = []
        if self.momentum != BATCHNORM_MOMENTUM:
            args.append(f"momentum={self.momentum!r}")
        if self.eps != BATCHNORM_EPS:
            args.append(f"eps={self.eps!r}")
        return "batchnorm" + (f"({', '.join(args)})" if args else "")

    def output_shape(self, input_shape):
        if len(input_shape) not in (1, 3):
            raise InvalidValueError(f"needs (n,) or (C, H, W) input, got shape {tuple(input_shape)}")
        return tuple(input_shape)

    def _init_params(self, rng):
        c = self.input_shape[0]
        self.params = {"gamma": np.ones(c, self.dtype), "beta": np.zeros(c, self.dtype)}
        self.buffers = {"running_mean": np.zeros(c, self.dtype), "running_var": np.ones(c, self.dtype)}

    def _axes_shape(self, x):
        return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))

    def forward(self, x, training=False):
        axes, bshape = self._axes_shape(x)
        gamma, beta = self.params["gamma"].reshape(bshape), self.params["beta"].reshape(bshape)
        if not training:
            mean = self.buffers["running_mean"].reshape(bshape)
            var = self.buffers["running_var"].reshape(bshape)
            return (x - mean) * (gamma / np.sqrt(var + self.eps)) + beta
        m = x.size // x.shape[1]
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = np.mean(xc * xc, axis=axes, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * inv_std
        if self.update_stats:
            mo = self.momentum
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            rm *= 1 - mo
            rm += mo * mean.reshape(-1)
            rv *= 1 - mo
            rv += mo * var.reshape(-1) * (m / max(m - 1, 1))
        self.xhat, self.inv_std = xhat, inv_std
        return xhat * gamma + beta

    def backward(self, grad_out):
        axes, bshape = self._axes_shape(grad_out)
        xhat, inv_std = self.xhat, self.inv_std
        m = grad_out.size // grad_out.shape[1]
        dbeta = grad_out.sum(axis=axes)
        dgamma = (grad_out * xhat).sum(axis=axes)
        self.grads = {"gamma": dgamma, "beta": dbeta}
        self.xhat = None
        if not self.needs_input_grad:
            return None
        g = self.params["gamma"].reshape(bshape)
        # ∂L/∂x = γ/(m·√(σ²+ε)) · (m·∂L/∂y − Σ ∂L/∂y − x̂ ⊙ Σ ∂L/∂y ⊙ x̂)
        return (g * inv_std / m) * (m * grad_out - dbeta.reshape(bshape) - xhat * dgamma.reshape(bshape))


# --------------------------------------------------------------- activations
class Activation(Layer):
    """A hidden activation of ``scratchnet.activations`` as a layer: ``A = f(Z)``, backward
    ``∂L/∂Z = ∂L/∂A ⊙ f'(Z)`` with ``f'`` written through A (the activation table's derivatives)."""

    def __init__(self, name):
        super().__init__()
        if name not in ACTIVATIONS:
            raise InvalidValueError(f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}")
        self.kind = name
        self.f = ACTIVATIONS[name]

    def forward(self, x, training=False):
        self.a = self.f(x)
        return self.a

    def backward(self, grad_out):
        g = self.f.backward_(grad_out, self.a, np.empty_like(grad_out))
        self.a = None
        return g


# ------------------------------------------------------------------ residual
class Residual(Layer):
    """``y = body(x) + shortcut(x)``: a skip connection around a sequence of layers.

    The shortcut is the identity when the body keeps the shape, else (or with
    ``shortcut="projection"``) a projection: a 1×1 conv with the stride that maps the
    input's size onto the body's output (image bodies) or a dense layer (flat
    bodies). Backward adds the two paths' input gradients. Parameters are named
    ``body.{j}.{name}`` and ``shortcut.{W|b}``.
    """

    kind = "residual"

    def __init__(self, body, shortcut="auto"):
        super().__init__()
        if not body or not all(isinstance(layer, Layer) for layer in body):
            raise InvalidValueError("residual: needs a body of at least one layer")
        if shortcut not in ("auto", "identity", "projection"):
            raise InvalidValueError(f"residual: shortcut must be 'identity' or 'projection', got {shortcut!r}")
        self.body = list(body)
        self.shortcut_kind = shortcut
        self.shortcut = None
        self._rng = np.random.default_rng(0)

    def spec(self):
        inner = " ".join(layer.spec() for layer in self.body)
        if self.shortcut_kind == "auto":
            return f"residual({inner})"
        return f"residual({inner}, shortcut={self.shortcut_kind!r})"

    def sublayers(self):
        return self.body + ([self.shortcut] if self.shortcut is not None else [])

    def _body_shape(self, input_shape):
        return build_layers(self.body, input_shape, self.dtype, self._rng, where="residual body ")

    def output_shape(self, input_shape):
        if self.out_shape is not None and tuple(input_shape) == self.input_shape:
            return self.out_shape
        out = self._body_shape(tuple(input_shape))
        return out

    def build(self, input_shape, dtype=np.float64, rng=None):
        self.dtype = np.dtype(dtype)
        self._rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.input_shape = tuple(int(d) for d in input_shape)
        out = self._body_shape(self.input_shape)
        self.out_shape = out
        inp = self.input_shape
        self.shortcut = None
        if self.shortcut_kind == "identity" and out != inp:
            raise InvalidValueError(f"identity shortcut needs the body to keep the shape {inp}, it gives {out}")
        if self.shortcut_kind == "projection" or out != inp:
            if len(inp) != len(out):
                raise InvalidValueError(f"the body turns shape {inp} into {out}; a shortcut cannot bridge them")
            if len(out) == 1:
                proj = Dense(out[0])
            else:
                sh, sw = -(-inp[1] // out[1]), -(-inp[2] // out[2])
                proj = Conv(out[0], 1, stride=(sh, sw))
                if proj.output_shape(inp) != out:
                    raise InvalidValueError(
                        f"no 1×1 projection maps {inp} onto the body's output {out}; keep the sizes in step"
                    )
            proj.build(inp, self.dtype, self._rng)
            self.shortcut = proj
        return out

    @property
    def params(self):
        return dict(self.named_params())

    @params.setter
    def params(self, value):
        pass

    @property
    def grads(self):
        return dict(self.named_grads())

    @grads.setter
    def grads(self, value):
        pass

    @property
    def buffers(self):
        return dict(self.named_buffers())

    @buffers.setter
    def buffers(self, value):
        pass

    def _children(self):
        out = [(f"body.{j}.", layer) for j, layer in enumerate(self.body)]
        if self.shortcut is not None:
            out.append(("shortcut.", self.shortcut))
        return out

    def named_params(self, prefix=""):
        return [item for p, layer in self._children() for item in layer.named_params(prefix + p)]

    def named_grads(self, prefix=""):
        return [item for p, layer in self._children() for item in layer.named_grads(prefix + p)]

    def named_buffers(self, prefix=""):
        return [item for p, layer in self._children() for item in layer.named_buffers(prefix + p)]

    def forward(self, x, training=False):
        y = x
        for layer in self.body:
            y = layer.forward(y, training)
        s = x if self.shortcut is None else self.shortcut.forward(x, training)
        return y + s

    def backward(self, grad_out):
        g = grad_out
        for layer in reversed(self.body):
            g = layer.backward(g)
        if self.shortcut is None:
            return g + grad_out
        return g + self.shortcut.backward(grad_out)


LAYERS = {
    "dense": Dense,
    "conv": Conv,
    "maxpool": MaxPool,
    "avgpool": AvgPool,
    "globalavgpool": GlobalAvgPool,
    "flatten": Flatten,
    "dropout": Dropout,
    "batchnorm": BatchNorm,
    "residual": Residual,
}
"""name in the architecture language → layer class (plus every name of ``ACTIVATIONS``)."""


def make_layer(name, *args, **kwargs):
    """A layer from its name in the architecture language and its arguments."""
    if name in ACTIVATIONS:
        if args or kwargs:
            raise InvalidValueError(f"{name}: an activation takes no arguments")
        return Activation(name)
    if name not in LAYERS:
        known = sorted(set(LAYERS) | set(ACTIVATIONS))
        raise InvalidValueError(f"unknown layer {name!r}; choose one of {', '.join(known)}")
    try:
        return LAYERS[name](*args, **kwargs)
    except TypeError as exc:
        msg = re.sub(r"\w+\.__init__\(\)", "it", str(exc))
        raise InvalidValueError(f"{name}: {msg}") from None


def build_layers(layers, input_shape, dtype, rng, where=""):
    """Build ``layers`` one after the other from ``input_shape``; the output shape.

    A layer that does not fit its input raises an ``InvalidValueError`` of one line
    naming it, its position (from 0, as in the summary, gradcheck's lines and the parameter
    names ``layers.{i}.W``) and the shape it was given.
    """
    shape = tuple(input_shape)
    for i, layer in enumerate(layers):
        try:
            shape = layer.build(shape, dtype, rng)
        except InvalidValueError as exc:
            raise InvalidValueError(f"{where}layer {i} {layer.spec()!r} (input shape {shape}): {exc}") from None
    return shape
