"""Train many networks together on one minibatch sequence (the multi-network engine).

All networks of a cross-validation fold see the same shuffled minibatches, so
their work can be fused (see docs/engine.md):

* **First layer, one product.** The first-layer weights of every network sit
  side by side in one matrix ``W⁽¹⁾ = [W⁽¹⁾₁ | W⁽¹⁾₂ | …]`` of shape
  (n⁰, Σᵢ n¹ᵢ), with the biases as one more row fed by a column of ones in X.
  Per step, ``Z⁽¹⁾ = [X | 1] · [W⁽¹⁾; b⁽¹⁾]`` is ONE matrix product for all
  networks and the weight gradient ``[X | 1]ᵀ · η∂L/∂Z⁽¹⁾`` ONE more; each
  network's learning rate η is folded into its ∂L/∂Z⁽ᴸ⁾ once, so it rides
  along the whole backward pass.
* **Sparse inputs** (``first_layer``). When most inputs sit at their feature's
  minimum (MNIST's −1 background), the two first-layer products multiply only
  the other entries (``scratchnet.sparse``: X = P + 1·c, P sparse); the
  background's share is a rank-1 term. In float32 the inky columns of P go to
  BLAS (``sparse.dense_columns``).
* **Deeper layers, batched by shape.** Networks are sorted by their widths
  ``(n¹, n², …)``, so networks sharing the first s widths are neighbours. Such a
  group ("bucket") keeps its layer-s weights stacked as (G, nˢ⁻¹, nˢ) and runs
  one stacked ``matmul`` per pass; its input is a view of its parent bucket.
* **Outputs together.** Every network's A⁽ᴸ⁾ lives in one (networks, N, nᴸ)
  array, so loss, accuracy counts and ∂L/∂Z⁽ᴸ⁾ are a few vectorised operations.
* **Preallocated buffers**: element-wise work is done in place; the validation
  pass runs the same fused forward pass over chunks of rows.
* **Any recipe, the same kernels.** Every activation of ``activations.ACTIVATIONS``
  and ``OUTPUTS``, every loss of ``losses.LOSSES``: the engine calls their in-place
  kernels on the stacked arrays, the very code the reference network calls on
  one network's. Networks of one recipe ``(activation, output, loss)`` and the
  same training options share an engine, and ``train_many`` steps every engine
  on the same batches.
* **Any optimiser** (``optimizers.OPTIMIZERS``, options ``ENGINE_DEFAULTS``). Plain
  SGD (the article) keeps η folded into ∂L/∂Z⁽ᴸ⁾; the others (and weight decay)
  take the true gradient of each packed array and call the optimiser's own
  ``apply`` with η per network (``_Engine._update``), their state packed like the
  parameters and kept on each network between calls. Schedules set η per epoch;
  dropout draws each network's masks from its own generator with
  ``network.draw_dropout_mask_``, as ``network.forward_train`` does.

What stays here is only what fusion needs: packing many networks, buffers,
buckets, the sparse first layer and the negated first layer.

Results equal training each network alone (``scratchnet.training.train_reference``)
with the same seed, up to floating-point rounding; the tests check ≤ 1e-10
relative difference in float64.
"""

from __future__ import annotations

import contextlib
import copy
import numbers
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from threadpoolctl import threadpool_limits

from .activations import ACTIVATIONS, OUTPUTS
from .batching import batch_indices, epoch_rng, gather_rows
from .errors import InvalidTypeError, InvalidValueError, TrainingDivergedError
from .losses import PAIRS
from .network import HISTORY_COLUMNS, MultilayerNeuralNetClassifier, draw_dropout_mask_
from .optimizers import SCHEDULES, add_weight_decay, make_optimizer, state_fits
from .progress import progress_bar
from .recipe import DEFAULTS, TRAINING_FIELDS, Recipe
from .sparse import MAX_DENSITY, SparseBatch, SparseFirstLayer, SparseRows, dense_columns, density
from .sparse import background as _background
from .validation import check_features, check_finite, check_int, check_labels, check_positive_float, check_seed

EVAL_CHUNK = 2000
"""Rows per chunk of the fused validation pass."""
COMPILED_GATHER_BYTES = 64 * 2**20
"""Training sets of at least this many bytes are gathered into the dense first layer's ``[X | 1]`` by a compiled
loop (``batching.gather_rows``): it saves a copy of every batch (5 % of an article epoch on MNIST, issue 15) and
checks the rows' finiteness as it copies them (``train`` then makes no pass of its own over X), but loads Numba
(about 0.2 s and 0.1 GB once per process), which a small data set's whole training would not win back."""
HIT_BLOCK = 16
"""Training steps whose predicted classes are kept before they are compared with the labels (``_Tally``)."""

ENGINE_DEFAULTS = {name: DEFAULTS[name] for name in TRAINING_FIELDS}
"""The per-network training options of ``train_many``: the recipe's training fields (early stopping is ``train``'s)."""


class _Bucket:
    """Networks sharing their first s widths: layer s of all of them, stacked.

    ``rank`` is the position of the bucket's first network in the sorted order,
    ``count`` how many it holds. For s ≥ 2, ``W`` is (G, nˢ⁻¹, nˢ), ``b`` (G, 1, nˢ);
    ``parent`` is the bucket of layer s − 1 they come from (``offset`` = their
    position inside it). ``out_slot`` is where an output bucket writes A⁽ᴸ⁾;
    ``slots`` the rows of Aout of its networks; ``factors`` the optimiser's step
    factors laid out (G, 1, 1).
    """

    def __init__(self, stage, rank, count, n_in, n_out, is_output, parent, offset):
        self.stage, self.rank, self.count = stage, rank, count
        self.n_in, self.n_out, self.is_output = n_in, n_out, is_output
        self.parent, self.offset = parent, offset
        self.column: int | None = None  # first-layer buckets: their first column in V = −[W⁽¹⁾; b⁽¹⁾]
        self.out_slot: int | None = None
        self.slots: np.ndarray | None = None
        self.W: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.factors = None


class _Tally:
    """An epoch's training loss sums and correct counts per network (rows of Aout), from the minibatch pass.

    Each NumPy call between two products costs microseconds (their work has emptied the caches), so the
    per-step work is kept to one call: the predicted classes of ``HIT_BLOCK`` steps are kept and compared
    with their labels in one go (``count``, before ``correct`` is read). With a loss of A⁽ᴸ⁾ − Y alone (MSE)
    the block's differences are kept too (``difference`` says where a step writes its own) and summed by
    one call of the loss, then added in step order (``np.add.accumulate``): the same bits as step by step,
    as long as a network's N·nᴸ products fit NumPy's buffer (``np.getbufsize()``), which einsum sums in one
    inner loop; larger batches sum per step."""

    def __init__(self, engine, n):
        n_nets, n_out = engine.n_nets, engine.n_out
        self.loss = engine.loss
        self.pred = np.empty((HIT_BLOCK, n_nets, n), dtype=np.intp)
        self.labels = np.empty((HIT_BLOCK, 1, n), dtype=np.intp)
        self.blocked = self.loss.uses_difference and n * n_out <= np.getbufsize()  # the loss summed per block
        self.D = np.empty((HIT_BLOCK if self.blocked else 1, n_nets, n, n_out), dtype=engine.dtype)  # A⁽ᴸ⁾ − Y
        self.reset()

    def reset(self):
        self.loss_sum = np.zeros(self.pred.shape[1])
        self.correct = np.zeros(self.pred.shape[1], dtype=np.int64)
        self.k = 0

    def difference(self):
        """Where this step's A⁽ᴸ⁾ − Y goes (n_nets, N, nᴸ): its slot of the block when the loss is summed per
        block, else the one buffer."""
        return self.D[self.k if self.blocked else 0]

    def add(self, A, D, y, scratch):
        """This step: A⁽ᴸ⁾ of every network (n_nets, N, nᴸ), D = A⁽ᴸ⁾ − Y (written where ``difference`` said),
        the labels ``y`` (N,) and a scratch array like A for the loss."""
        if not self.blocked:
            self.loss_sum += self.loss.sums(A, D, y, scratch)
        np.argmax(A, axis=2, out=self.pred[self.k])
        self.labels[self.k, 0] = y
        self.k += 1
        if self.k == HIT_BLOCK:
            self.count()

    def count(self):
        k = self.k
        if not k:
            return
        self.correct += np.count_nonzero(self.pred[:k] == self.labels[:k], axis=(0, 2))
        if self.blocked:
            sums = self.loss.sums(None, self.D[:k], None, None)  # (k, n_nets)
            self.loss_sum = np.add.accumulate(np.concatenate((self.loss_sum[np.newaxis], sums)), axis=0)[-1]
        self.k = 0


class _Buffers:
    """Preallocated activations and gradients for passes over ``n`` rows."""

    def __init__(self, engine, n, training, X1=None, batch=None, Y=None):
        dt = engine.dtype
        self.n = n
        self.batch = batch  # the sparse first layer's minibatch (``sparse.SparseBatch``), shared like X1
        # [X | 1]: the column of ones carries the first-layer biases through the GEMM
        # (``X1``: one shared by the engines of a train_many call, which see the same batches).
        self.X1 = np.ones((n, engine.n_in + 1), dtype=dt) if X1 is None else X1
        self.X = self.X1[:, : engine.n_in]
        self.A1 = np.empty((n, engine.H), dtype=dt)
        self.Aout = np.empty((engine.n_nets, n, engine.n_out), dtype=dt)
        self.A = {}
        for bucket in engine.buckets:
            if bucket.stage == 1:
                c = bucket.column
                self.A[bucket] = (
                    self.A1[:, c : c + bucket.count * bucket.n_out]
                    .reshape(n, bucket.count, bucket.n_out)
                    .transpose(1, 0, 2)
                )
            elif bucket.is_output:
                self.A[bucket] = self.Aout[bucket.out_slot : bucket.out_slot + bucket.count]
            else:
                self.A[bucket] = np.empty((bucket.count, n, bucket.n_out), dtype=dt)
        self.M1 = self.M = self.Ain = None  # dropout masks: training only
        if not training:
            return
        self.Y = Y  # the batch's one-hot labels, gathered with X (shared like X1)
        self.tally = _Tally(engine, n)  # it holds D = A⁽ᴸ⁾ − Y too
        self.scale = (engine.lr_out * (engine.delta_factor / n)).astype(dt)  # per network: η·2/(N·nᴸ) for MSE
        self.dZout = np.empty_like(self.Aout)
        self.dA1 = np.zeros((n, engine.H), dtype=dt)
        self.dZ1 = np.empty((n, engine.H), dtype=dt)
        self.G1 = np.empty((engine.n_in + 1, engine.H), dtype=dt)
        if engine.dropout:
            self._dropout_buffers(engine, n)
        self.dA, self.dZ, self.dZ1_view, self.gW, self.gb = {}, {}, {}, {}, {}
        self.ones = np.ones((1, n), dtype=dt)  # 1ᵀ: bias gradients Σ_rows ∂L/∂Z as one stacked product
        for bucket in engine.buckets:
            if bucket.stage == 1:
                c = bucket.column
                self.dA[bucket] = (
                    self.dA1[:, c : c + bucket.count * bucket.n_out]
                    .reshape(n, bucket.count, bucket.n_out)
                    .transpose(1, 0, 2)
                )
                self.dZ1_view[bucket] = (
                    self.dZ1[:, c : c + bucket.count * bucket.n_out]
                    .reshape(n, bucket.count, bucket.n_out)
                    .transpose(1, 0, 2)
                )
            else:
                if not bucket.is_output:
                    self.dA[bucket] = np.empty((bucket.count, n, bucket.n_out), dtype=dt)
                    self.dZ[bucket] = np.empty((bucket.count, n, bucket.n_out), dtype=dt)
                self.gW[bucket] = np.empty((bucket.count, bucket.n_in, bucket.n_out), dtype=dt)
                self.gb[bucket] = np.empty((bucket.count, 1, bucket.n_out), dtype=dt)

    def _dropout_buffers(self, engine, n):
        """Masks M⁽ᵏ⁾ laid out as the activations (``M1`` as ``A1``, ``M[bucket]`` as ``A[bucket]``),
        ``Ain[bucket]`` = the dropped input A⁽ˢ⁻¹⁾ ⊙ M⁽ˢ⁻¹⁾ of a deeper bucket, and ``masks[i]``:
        network i's mask of each hidden layer in layer order, (n, nᵏ) views to draw into."""
        dt = engine.dtype
        self.M1 = np.ones((n, engine.H), dtype=dt)  # ones where a network has no hidden layer
        self.M, self.Ain, per_net = {}, {}, {}
        for bucket in engine.buckets:
            if bucket.stage > 1:
                self.Ain[bucket] = np.empty((bucket.count, n, bucket.n_in), dtype=dt)
            if bucket.is_output:
                continue
            if bucket.stage == 1:
                c = bucket.column
                self.M[bucket] = (
                    self.M1[:, c : c + bucket.count * bucket.n_out]
                    .reshape(n, bucket.count, bucket.n_out)
                    .transpose(1, 0, 2)
                )
            else:
                self.M[bucket] = np.empty((bucket.count, n, bucket.n_out), dtype=dt)
            for j in range(bucket.count):
                per_net.setdefault(engine.order[bucket.rank + j], []).append((bucket.stage, self.M[bucket][j]))
        self.masks = {i: [view for _, view in sorted(views, key=lambda v: v[0])] for i, views in per_net.items()}
        self.uniforms: dict = {}  # mask shape → a float64 buffer for its uniform draws

    def draw_masks(self, engine):
        """Inverted-dropout masks of this batch, as ``network.forward_train``: from each network's generator,
        per hidden layer ``(rng.random((n, nᵏ)) < 1 − p) / (1 − p)``."""
        for i, views in self.masks.items():
            rng = engine.drop_rngs[i]
            for view in views:
                scratch = self.uniforms.get(view.shape)
                if scratch is None:  # one float64 buffer per mask shape for the uniform draws, reused
                    scratch = self.uniforms[view.shape] = np.empty(view.shape)
                draw_dropout_mask_(view, rng, engine.dropout, scratch)


class _Engine:
    """The packed parameters of ``nets`` and the fused passes over them."""

    def __init__(self, nets, learning_rates, options=None, background=None, dense_columns=None):
        self.nets = nets
        self.dtype = nets[0].dtype
        # One set of optimiser options per engine (train_many groups by them); η may differ per network.
        o = {**ENGINE_DEFAULTS, **(options or {})}
        self.optimizer = make_optimizer(o["optimizer"], 1.0, momentum=o["momentum"], weight_decay=o["weight_decay"])
        self.weight_decay = self.optimizer.weight_decay
        self.plain = self.optimizer.name == "sgd" and self.weight_decay == 0  # η folded into ∂L/∂Z⁽ᴸ⁾, no state
        self.state_names = self.optimizer.state_names
        self.schedule = SCHEDULES[o["schedule"]]
        self.dropout = o["dropout"]
        self.drop_rngs = {}
        self.factors_first = None  # the optimiser's per-step factors (η …), laid out like V1: (1, H)
        self.eta: np.ndarray | None = None  # this epoch's η per row of Aout (optimisers but plain SGD)
        self.t = np.zeros(len(nets))  # steps taken per row of Aout (optimisers that count them)
        self.state: dict = {}  # the optimiser's packed state: name → (like V1, {bucket: (like W, like b)})
        self._scratch = {}  # shape → a scratch array for _update
        # One recipe per engine (train_many groups the networks by it).
        self.hidden = ACTIVATIONS[nets[0].activation]
        self.out_activation = OUTPUTS[nets[0].output]
        self.loss = nets[0].loss_function
        self.fused = PAIRS[(self.out_activation.name, self.loss.name)] == "fused"
        # Layers whose activation has f(−·) in place keep −Z, which the negated first layer gives directly.
        self.hidden_negated = self.hidden.negated_ is not None
        self.output_negated = self.out_activation.negated_ is not None
        self.n_in = nets[0].layers[0]
        self.n_out = nets[0].layers[-1]
        self.n_nets = len(nets)
        # backpropagation starts from delta_factor/N · (A⁽ᴸ⁾ − Y); a pass's loss is its sum / (rows · loss_divisor)
        self.delta_factor = self.loss.factor(self.n_out)
        self.loss_divisor = self.loss.divisor(self.n_out)
        # Sorting by the widths makes every group of shared leading widths contiguous.
        self.order = sorted(range(len(nets)), key=lambda i: (tuple(nets[i].layers[1:]), i))
        self.slot = {}  # network index → its row in Aout
        self.buckets = []
        self._build(learning_rates)
        # ``background`` c: train the first layer on the sparse P = X − c (see ``scratchnet.sparse``),
        # its ``dense_columns`` (float32) by BLAS
        self.first = None if background is None else SparseFirstLayer(self.V1, background, dense_columns)
        self.load_parameters()
        self.load_state()

    # ---------------------------------------------------------------- layout
    def _build(self, learning_rates):
        nets, order = self.nets, self.order
        dt = self.dtype
        widths = [tuple(nets[i].layers[1:]) for i in order]
        lr = [learning_rates[i] for i in order]

        def groups(lo, hi, s):
            """Split sorted ranks lo..hi (all sharing widths[:s-1]) by (widths[s-1], is last)."""
            r = lo
            while r < hi:
                key = (widths[r][s - 1], len(widths[r]) == s)
                q = r
                while q < hi and (widths[q][s - 1], len(widths[q]) == s) == key:
                    q += 1
                yield r, q, key[0], key[1]
                r = q

        column, slot = 0, 0
        stack = []
        for r, q, width, last in groups(0, len(order), 1):
            bucket = _Bucket(1, r, q - r, self.n_in, width, last, None, 0)
            bucket.column = column
            column += (q - r) * width
            self.buckets.append(bucket)
            stack.append(bucket)
        self.H = column
        # Deeper stages, breadth first so a stage's buckets are all built before the next.
        frontier = stack
        while frontier:
            nxt = []
            for parent in frontier:
                if parent.is_output:
                    continue
                s = parent.stage + 1
                lo, hi = parent.rank, parent.rank + parent.count
                for r, q, width, last in groups(lo, hi, s):
                    bucket = _Bucket(s, r, q - r, parent.n_out, width, last, parent, r - lo)
                    self.buckets.append(bucket)
                    nxt.append(bucket)
            frontier = nxt
        lr_out = []
        for bucket in self.buckets:
            if bucket.is_output:
                bucket.out_slot = slot
                for r in range(bucket.rank, bucket.rank + bucket.count):
                    self.slot[order[r]] = slot
                    lr_out.append(lr[r])
                    slot += 1
        self.lr_out = np.asarray(lr_out, dtype=np.float64).reshape(-1, 1, 1)  # η per row of Aout
        # Which network (row of Aout) owns each first-layer column and each row of a deeper bucket.
        self.column_slots = np.empty(self.H, dtype=np.intp)
        for bucket in self.buckets:
            bucket.slots = np.array([self.slot[order[r]] for r in range(bucket.rank, bucket.rank + bucket.count)])
            if bucket.stage == 1:
                self.column_slots[bucket.column : bucket.column + bucket.count * bucket.n_out] = np.repeat(
                    bucket.slots, bucket.n_out
                )
        self.deep = [b for b in self.buckets if b.stage > 1]
        self.first_outputs = [b for b in self.buckets if b.stage == 1 and b.is_output]
        # V = −[W⁽¹⁾; b⁽¹⁾], stored negated so that [X | 1] · V = −Z⁽¹⁾ feeds σ(−·) directly.
        self.V1 = np.zeros((self.n_in + 1, self.H), dtype=dt)
        for bucket in self.deep:
            bucket.W = np.zeros((bucket.count, bucket.n_in, bucket.n_out), dtype=dt)
            bucket.b = np.zeros((bucket.count, 1, bucket.n_out), dtype=dt)

    def _views(self, first=None, deep=None):
        """Yield ``(i, k, W_view, b_view, sign)``: where layer k of ``nets[i]`` lives in the packed arrays.

        ``sign`` is −1 for the first layer, which is stored negated. The packed
        arrays are the parameters (``V1`` and each bucket's ``W``, ``b``), or
        arrays laid out alike: ``first`` like V1, ``deep`` {bucket: (W-like, b-like)}.
        """
        first = self.V1 if first is None else first
        for bucket in self.buckets:
            for j in range(bucket.count):
                i = self.order[bucket.rank + j]
                if bucket.stage == 1:
                    c = bucket.column + j * bucket.n_out
                    cols = slice(c, c + bucket.n_out)
                    yield i, 0, first[: self.n_in, cols], first[self.n_in, cols], -1
                else:
                    W, b = (bucket.W, bucket.b) if deep is None else deep[bucket]
                    yield i, bucket.stage - 1, W[j], b[j, 0], 1

    def load_parameters(self):
        """Copy every network's weights and biases into the packed arrays."""
        for i, k, W, b, sign in self._views():
            np.multiply(self.nets[i].weights[k], sign, out=W)
            np.multiply(self.nets[i].biases[k], sign, out=b)
        self.sync()

    def sync(self):
        """Make the packed arrays plain (the sparse first layer keeps part of V aside between syncs)."""
        if self.first is not None:
            self.first.fold()

    def store_parameters(self):
        """Copy the packed arrays back into every network's weights and biases."""
        for i, k, W, b, sign in self._views():
            np.multiply(W, sign, out=self.nets[i].weights[k])
            np.multiply(b, sign, out=self.nets[i].biases[k])

    def load_state(self):
        """Packed optimiser state (velocities, Adam's m and v, per-network t) from every network.

        A network whose ``optimizer_state`` belongs to another optimiser (or is None) starts
        from zeros, as the optimisers do. The first layer's state is stored negated like V1,
        but for the optimiser's ``even_state`` (squares such as Adam's v = E[g²]).
        """
        self.state = {
            name: (np.zeros_like(self.V1), {b: (np.zeros_like(b.W), np.zeros_like(b.b)) for b in self.deep})
            for name in self.state_names
        }
        self.t = np.zeros(self.n_nets)
        key = self.optimizer.state_key()
        fits = [state_fits(getattr(net, "optimizer_state", None), key, net.weights + net.biases) for net in self.nets]
        for name in self.state_names:
            for i, k, W, b, sign in self._views(*self.state[name]):
                if fits[i]:
                    sign = 1 if name in self.optimizer.even_state else sign
                    L = self.nets[i].n_layers
                    np.multiply(self.nets[i].optimizer_state[name][k], sign, out=W)
                    np.multiply(self.nets[i].optimizer_state[name][L + k], sign, out=b)
        for i, net in enumerate(self.nets):
            if fits[i] and "t" in net.optimizer_state:
                self.t[self.slot[i]] = net.optimizer_state["t"]

    def store_state(self):
        """Every network's ``optimizer_state``: a fresh copy of its part of the packed state (None: plain SGD)."""
        key = self.optimizer.state_key()
        states = [None if key is None else {"key": key} for _ in self.nets]
        for name in self.state_names:
            arrays = [[None] * (2 * net.n_layers) for net in self.nets]
            for i, k, W, b, sign in self._views(*self.state[name]):
                sign = 1 if name in self.optimizer.even_state else sign
                L = self.nets[i].n_layers
                arrays[i][k], arrays[i][L + k] = np.multiply(W, sign), np.multiply(b, sign)
            for state, a in zip(states, arrays):
                state[name] = a
        if self.optimizer.counts_steps:
            for i, state in enumerate(states):
                state["t"] = int(self.t[self.slot[i]])
        for net, state in zip(self.nets, states):
            net.optimizer_state = state

    def start_epoch(self, epoch, first, epochs, seed, buf):
        """Set this epoch's rates ηₑ = schedule(η, epoch − first, epochs) and dropout generators.

        Plain SGD folds ηₑ into ``buf.scale``; the other optimisers keep ∂L/∂Z⁽ᴸ⁾
        unscaled and take their step factors (ηₑ, or Adam's) per packed array:
        (1, H) for V1, (G, 1, 1) per bucket (``_lay_out_factors``).
        """
        eta = np.array([self.schedule(float(lr), epoch - first, epochs) for lr in self.lr_out.ravel()])
        factor = self.delta_factor / buf.n
        if self.plain:
            buf.scale[...] = (eta.reshape(-1, 1, 1) * factor).astype(self.dtype)
        else:
            buf.scale[...] = np.full((self.n_nets, 1, 1), factor).astype(self.dtype)
            self.eta = eta
            if not self.optimizer.counts_steps:  # the same factors for every step of the epoch
                self._lay_out_factors(self.optimizer.step_factors(eta, None))
        if self.dropout:  # one generator per network, seeded as train_reference seeds its own
            self.drop_rngs = {
                i: np.random.default_rng(None if seed is None else [seed, epoch, 1]) for i in range(self.n_nets)
            }

    def finite_networks(self):
        """A boolean per network (order of ``nets``): are all its packed parameters finite?"""
        ok = np.ones(self.n_nets, dtype=bool)
        for i, _, W, b, _ in self._views():
            if ok[i] and not (np.isfinite(W).all() and np.isfinite(b).all()):
                ok[i] = False
        return ok

    # ---------------------------------------------------------------- passes
    def forward(self, buf, sparse_rows=None):
        """The fused forward pass of ``buf.X``: every network's activations into ``buf``.

        With the sparse first layer, the rows come as ``sparse_rows`` =
        ``(indptr, indices, data, r, dense)`` (default: ``buf.batch``'s) instead of ``buf.X``.

        Layers whose activation has an in-place f(−·) (the sigmoid) keep −Z (the
        first layer's product gives it) and take σ(−·) directly; other
        activations negate it back first.
        """
        self._first_forward(buf, sparse_rows)
        for bucket in self.first_outputs:  # no hidden layer: Z⁽¹⁾ is the output's net input
            out = buf.Aout[bucket.out_slot : bucket.out_slot + bucket.count]
            if self.output_negated:
                np.copyto(out, buf.A[bucket])
            else:
                np.negative(buf.A[bucket], out=out)
        self.hidden.forward_negated_(buf.A1)
        for bucket in self.deep:  # built stage by stage, so parents come first
            a_in = buf.A[bucket.parent][bucket.offset : bucket.offset + bucket.count]
            if buf.M is not None:  # dropout (training): the layer sees A⁽ˢ⁻¹⁾ ⊙ M⁽ˢ⁻¹⁾
                a_in = np.multiply(
                    a_in, buf.M[bucket.parent][bucket.offset : bucket.offset + bucket.count], out=buf.Ain[bucket]
                )
            a = buf.A[bucket]
            np.matmul(a_in, bucket.W, out=a)  # Z⁽ˢ⁾ = A⁽ˢ⁻¹⁾ · W⁽ˢ⁾ + b⁽ˢ⁾, stacked
            negated = self.output_negated if bucket.is_output else self.hidden_negated
            if negated:
                np.negative(a, out=a)
                a -= bucket.b
            else:
                a += bucket.b
            if bucket.is_output:
                continue  # activated below, all outputs at once
            if negated:
                self.hidden.forward_negated_(a)
            else:
                self.hidden.forward_(a)
        # A⁽ᴸ⁾ of every network at once (Aout holds −Z⁽ᴸ⁾ for a sigmoid output, Z⁽ᴸ⁾ for the softmax)
        if self.output_negated:
            self.out_activation.forward_negated_(buf.Aout)
        else:
            self.out_activation.forward_(buf.Aout)

    def _first_forward(self, buf, sparse_rows=None):
        """−Z⁽¹⁾ = [X | 1] · V: one matrix product for the first layer of every network, into ``buf.A1``.

        With the sparse first layer: the same from the rows' non-zeros (``sparse_rows``, else ``buf.batch``).
        """
        if self.first is None:
            np.matmul(buf.X1, self.V1, out=buf.A1)
        else:
            self.first.forward(*(sparse_rows or buf.batch.rows()), buf.A1)

    def _first_update(self, buf, dZ1):
        """Plain SGD: V ← V + [X | 1]ᵀ · η∂L/∂Z⁽¹⁾, i.e. [W⁽¹⁾; b⁽¹⁾] −= η·∂L/∂[W⁽¹⁾; b⁽¹⁾]: one product."""
        if self.first is None:
            self.V1 += np.matmul(buf.X1.T, dZ1, out=buf.G1)
        else:
            self.first.update(buf.batch, dZ1)

    def _first_gradient(self, buf, dZ1):
        """∂L/∂V = −[X | 1]ᵀ · ∂L/∂Z⁽¹⁾ = [X | 1]ᵀ · (−∂L/∂Z⁽¹⁾) (dense, η not folded in), in ``buf.G1``.

        ``dZ1`` is negated in place (N × H, fewer entries than G1): rounding is symmetric, so the
        product of the negated factor is exactly the negated product, the same bits."""
        np.negative(dZ1, out=dZ1)
        if self.first is None:
            return np.matmul(buf.X1.T, dZ1, out=buf.G1)
        return self.first.gradient(buf.batch, dZ1, buf.G1)

    def _first_optimizer_update(self, buf, dZ1):
        """Momentum, Nesterov, Adam, RMSprop or weight decay on V = −[W⁽¹⁾; b⁽¹⁾].

        The update rules are odd in (θ, ∂L/∂θ) and in their ``state`` but for the
        ``even_state`` (squares), so applying them to V with ∂L/∂V = −∂L/∂θ gives
        exactly −(the update of θ); the bias row is not decayed.
        """
        state = [self.state[name][0] for name in self.state_names]
        self._update(self.V1, self._first_gradient(buf, dZ1), state, self.factors_first, decay_rows=self.n_in)
        if self.first is not None:
            self.first.fold()  # V changed as a whole: q = c·M anew

    def _update(self, param, grad, state, factors, decay_rows=None):
        """One step of the optimiser's rule (``Optimizer.apply``) on a packed array, η per network.

        Weight decay ``g ← g + λ·θ`` first, on ``param[:decay_rows]`` (None: all, 0: none);
        ``grad`` is overwritten; a scratch array like ``param`` is kept per shape.
        """
        scratch = self._scratch.get(param.shape)
        if scratch is None:
            scratch = self._scratch[param.shape] = np.empty_like(param)
        add_weight_decay(param, grad, self.weight_decay, decay_rows, scratch)
        self.optimizer.apply(param, grad, state, factors, scratch)

    def _lay_out_factors(self, factors):
        """The optimiser's per-network step factors (arrays over the rows of Aout, or a tuple of them)
        laid out for V1 (``factors_first``, (1, H)) and each deeper bucket (``bucket.factors``, (G, 1, 1))."""
        many = isinstance(factors, tuple)
        parts = factors if many else (factors,)

        def shaped(idx, shape):
            laid = tuple(np.asarray(f)[idx].reshape(shape).astype(self.dtype) for f in parts)
            return laid if many else laid[0]

        self.factors_first = shaped(self.column_slots, (1, -1))
        for bucket in self.deep:
            bucket.factors = shaped(bucket.slots, (-1, 1, 1))

    def _count_step(self):
        """t ← t + 1 per network, and the step factors that depend on it (Adam's bias corrections)."""
        self.t += 1
        self._lay_out_factors(self.optimizer.step_factors(self.eta, self.t))

    def step(self, y, buf):
        """One training step of every network on the batch ``buf.X`` (one-hot ``buf.Y``, labels ``y``); the batch's
        loss sums and predictions go to ``buf.tally``.

        Plain SGD: the learning rate η of each network multiplies its ∂L/∂Z⁽ᴸ⁾ once,
        so every gradient below is already ``η·∂L/∂…`` and updates are plain
        subtractions. Other optimisers get the true gradients and ``_update``.
        """
        if self.dropout:
            buf.draw_masks(self)
        if self.optimizer.counts_steps:
            self._count_step()
        self.forward(buf)
        self._output_delta(y, buf)
        for bucket in reversed(self.deep):  # children before parents
            self._backward_bucket(bucket, buf)
        self._backward_first(buf)

    def _output_delta(self, y, buf):
        """The batch's loss sums and predictions into ``buf.tally``, and (η·)∂L/∂Z⁽ᴸ⁾ of every network into
        ``buf.dZout``."""
        Aout, dZout, tally = buf.Aout, buf.dZout, buf.tally
        D = np.subtract(Aout, buf.Y, out=tally.difference())  # A⁽ᴸ⁾ − Y
        tally.add(Aout, D, y, dZout)
        if self.fused:  # η·∂L/∂Z⁽ᴸ⁾ = η·factor/N·(A⁽ᴸ⁾ − Y): (A − Y)/N for CE, (A − Y)/(N·nᴸ) for BCE
            np.multiply(D, buf.scale, out=dZout)
        else:  # η·∂L/∂Z⁽ᴸ⁾ = (∂L/∂A⁽ᴸ⁾ through the output's derivative) · η·2/(N·nᴸ), ∂L/∂A ∝ A⁽ᴸ⁾ − Y (MSE)
            self.out_activation.backward_(D, Aout, dZout)
            dZout *= buf.scale

    def _backward_bucket(self, bucket, buf):
        """Backpropagate through the stacked layer of ``bucket`` and update its weights and biases."""
        if bucket.is_output:
            dZ = buf.dZout[bucket.out_slot : bucket.out_slot + bucket.count]
        else:
            if buf.M is not None:
                buf.dA[bucket] *= buf.M[bucket]  # through the dropout: ⊙ M⁽ˢ⁾
            dZ = self.hidden.backward_(buf.dA[bucket], buf.A[bucket], buf.dZ[bucket])
        lo, hi = bucket.offset, bucket.offset + bucket.count
        # ∂L/∂A⁽ˢ⁻¹⁾ = ∂L/∂Z⁽ˢ⁾ · W⁽ˢ⁾ᵀ, before W⁽ˢ⁾ changes
        np.matmul(dZ, bucket.W.transpose(0, 2, 1), out=buf.dA[bucket.parent][lo:hi])
        a_in = buf.A[bucket.parent][lo:hi] if buf.M is None else buf.Ain[bucket]
        gW = np.matmul(a_in.transpose(0, 2, 1), dZ, out=buf.gW[bucket])  # (η)∂L/∂W⁽ˢ⁾ = A⁽ˢ⁻¹⁾ᵀ·(η)∂L/∂Z⁽ˢ⁾
        gb = np.matmul(buf.ones, dZ, out=buf.gb[bucket])  # (η)∂L/∂b⁽ˢ⁾ = 1ᵀ·(η)∂L/∂Z⁽ˢ⁾
        if self.plain:
            bucket.W -= gW
            bucket.b -= gb
        else:
            W_state = [self.state[name][1][bucket][0] for name in self.state_names]
            b_state = [self.state[name][1][bucket][1] for name in self.state_names]
            self._update(bucket.W, gW, W_state, bucket.factors)
            self._update(bucket.b, gb, b_state, bucket.factors, decay_rows=0)

    def _backward_first(self, buf):
        """Backpropagate into the first layer of every network and update it (one product for all)."""
        if buf.M1 is not None:
            buf.dA1 *= buf.M1
        dZ1 = self.hidden.backward_(buf.dA1, buf.A1, buf.dZ1)
        for bucket in self.first_outputs:
            np.copyto(buf.dZ1_view[bucket], buf.dZout[bucket.out_slot : bucket.out_slot + bucket.count])
        if self.plain:
            self._first_update(buf, dZ1)
        else:
            self._first_optimizer_update(buf, dZ1)

    def evaluate(self, X, y, buffers, sparse_rows=None):
        """Per network (rows of ``Aout``): the summed loss (``Loss.sums``) and the correct count on ``X``/``y``.

        One fused forward pass in chunks of ``EVAL_CHUNK`` rows; sums in float64.
        With the sparse first layer, ``sparse_rows`` is X as a ``sparse.SparseRows``.
        """
        loss_sum = np.zeros(self.n_nets)
        correct = np.zeros(self.n_nets, dtype=np.int64)
        n = X.shape[0]
        for start in range(0, n, EVAL_CHUNK):
            Xc, yc = X[start : start + EVAL_CHUNK], y[start : start + EVAL_CHUNK]
            m = Xc.shape[0]
            if m not in buffers:
                buffers[m] = _Buffers(self, m, training=False)
            buf = buffers[m]
            if sparse_rows is None:
                buf.X[...] = Xc
                self.forward(buf)
            else:
                self.forward(buf, sparse_rows.rows(start, start + m))
            A = buf.Aout
            correct += np.count_nonzero(A.argmax(axis=2) == yc, axis=1)
            if self.loss.uses_difference:
                A[:, np.arange(m), yc] -= 1  # A⁽ᴸ⁾ − Y, in place (A is not needed afterwards)
            loss_sum += self.loss.sums(A, A, yc, A)
        return loss_sum, correct


def _check_nets(nets):
    if isinstance(nets, MultilayerNeuralNetClassifier):
        raise InvalidTypeError("nets must be a list of networks; wrap a single network as [net]")
    try:
        nets = list(nets)
    except TypeError:
        raise InvalidTypeError(f"nets must be a list of MultilayerNeuralNetClassifier, got {nets!r}") from None
    if not nets:
        raise InvalidValueError("nets is empty: give at least one network to train")
    for i, net in enumerate(nets):
        if not isinstance(net, MultilayerNeuralNetClassifier):
            raise InvalidTypeError(f"nets[{i}] is {type(net).__name__}, not a MultilayerNeuralNetClassifier")
    if len({id(net) for net in nets}) != len(nets):
        raise InvalidValueError("the same network object appears more than once in nets; give each one once")
    first = nets[0]
    for i, net in enumerate(nets[1:], start=1):
        what = None
        if net.layers[0] != first.layers[0]:
            what = f"{net.layers[0]} inputs while nets[0] has {first.layers[0]}"
        elif net.layers[-1] != first.layers[-1]:
            what = f"{net.layers[-1]} classes while nets[0] has {first.layers[-1]}"
        elif net.dtype != first.dtype:
            what = f"dtype {net.dtype.name} while nets[0] has {first.dtype.name}"
        elif net.epochs_trained != first.epochs_trained:
            what = f"{net.epochs_trained} epochs trained while nets[0] has {first.epochs_trained}"
        if what:
            raise InvalidValueError(
                f"nets[{i}] has {what}; networks trained together need the same input width, "
                "classes, dtype and epochs trained"
            )
    return nets


def _recipe(net):
    """What one fused engine shares: ``(hidden activation, output activation, loss)``."""
    return net.activation, net.output, net.loss_function.name


def _check_options(options, n):
    """``None``, one dict or one dict per network → one checked options dict per network (see ``ENGINE_DEFAULTS``).

    Checked as ``train_reference`` checks them (same messages).
    """
    if options is None or isinstance(options, dict):
        options = [options or {}] * n
    elif isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
        raise InvalidTypeError(f"options must be None, a dict or one dict per network, got {options!r}")
    options = list(options)
    if len(options) != n:
        raise InvalidValueError(f"{len(options)} option dicts for {n} networks; give one dict or one per network")
    return [_check_one(o, f"options[{i}]") for i, o in enumerate(options)]


def _check_one(options, name):
    """One options dict → all of ``ENGINE_DEFAULTS``' keys, checked and normalised."""
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise InvalidTypeError(f"{name} must be a dict such as {{'optimizer': 'adam'}}, got {options!r}")
    unknown = sorted(set(options) - set(ENGINE_DEFAULTS))
    if unknown:
        hint = (
            " (early stopping is done by training.train around train_many)"
            if set(unknown) & {"early_stopping", "patience", "validation_fraction"}
            else ""
        )
        raise InvalidTypeError(f"{name} has unknown option(s) {unknown}; known: {', '.join(ENGINE_DEFAULTS)}{hint}")
    return Recipe.of(**options).training_options()


def _check_learning_rates(learning_rates, n):
    if isinstance(learning_rates, numbers.Real) and not isinstance(learning_rates, bool):
        return [check_positive_float(learning_rates, "learning_rates")] * n
    if isinstance(learning_rates, (str, bytes)) or not hasattr(learning_rates, "__iter__"):
        raise InvalidTypeError(f"learning_rates must be a number or one number per network, got {learning_rates!r}")
    lrs = [check_positive_float(v, f"learning_rates[{i}]") for i, v in enumerate(learning_rates)]
    if len(lrs) != n:
        raise InvalidValueError(f"{len(lrs)} learning rates for {n} networks; give one number or one per network")
    return lrs


def train_many(
    nets: list[MultilayerNeuralNetClassifier],
    X_train: ArrayLike,
    y_train: ArrayLike,
    X_val: ArrayLike | None,
    y_val: ArrayLike | None,
    *,
    epochs: int,
    batch_size: int = 100,
    learning_rates: float | list[float] = 0.1,
    seed: int | None = None,
    on_epoch: Callable[[int, list[dict]], bool | None] | None = None,
    progress: bool = False,
    blas_threads: int | None = None,
    options: dict | list[dict] | None = None,
    first_layer: str = "auto",
    diverged: str = "raise",
    schedule_span: tuple[int, int] | None = None,
    _checked: bool = False,
) -> list[pd.DataFrame]:
    """Train every network of ``nets`` in place on the same shuffled minibatches.

    ``nets``: ``MultilayerNeuralNetClassifier`` objects with equal input width,
    classes and dtype, each already trained for the same number of epochs (0 or
    more: hot start); depths, widths, hidden activations, outputs and losses
    may differ (networks of one recipe ``(activation, output, loss)`` and the
    same ``options`` share a fused engine; the engines step on the same
    batches). ``learning_rates``: one number for all or one per network.
    ``options``: the training options of ``train_reference`` but early stopping
    (``ENGINE_DEFAULTS``: optimizer, momentum, weight_decay, schedule,
    dropout), as None (the article's plain SGD), one dict for all networks or
    one dict per network; the optimiser state is resumed from and kept in each
    ``net.optimizer_state``, the schedule runs over the epochs of this call,
    dropout masks come from ``default_rng([seed, e, 1])`` per network.
    Epoch ``e`` is shuffled by ``batching.epoch_rng(seed, e)``, exactly as
    ``train`` does, so each network ends as if trained alone.
    ``on_epoch(epoch, records)`` is called after each epoch (networks already
    updated) with one history record (dict) per network, in the order of
    ``nets``; the same records are appended to each ``net.history_records``;
    if it returns True, training stops after that epoch. ``seconds`` is the
    wall time of the joint epoch.
    ``progress`` shows a bar over epochs; ``blas_threads`` caps the BLAS threads
    (None: leave as is). ``first_layer``: ``"dense"`` (one GEMM), ``"sparse"``
    (only the non-background inputs, see ``scratchnet.sparse``), ``"auto"``:
    dense when more than ``sparse.MAX_DENSITY`` of the training inputs differ
    from their feature's minimum (MNIST: 19 %), else sparse for a grid of at least
    ``SPARSE_MIN_NETWORKS`` networks (a rule: the same numbers every run), or
    ``"measure"``: the faster of the two as timed on this job (``choose_first_layer``). Returns one history DataFrame
    per network, as ``train``; its ``attrs`` say which first layer ran
    (``first_layer``) and why (``first_layer_choice``: the timings).

    ``schedule_span``: ``(first epoch, epochs)`` the schedule runs over
    (default: this call's), so that a run resumed from a checkpoint keeps the
    rates of the uninterrupted run.
    ``diverged``: what a network whose loss or parameters turn NaN/infinite
    does. ``"raise"``: ``TrainingDivergedError``; every network then keeps its
    parameters from before that epoch. ``"drop"`` (a grid search, where
    divergence is a result): the diverged networks keep their parameters from
    before that epoch and leave the run, their history ends there with
    ``history.attrs["diverged_epoch"]`` = that epoch; the others go on, with
    exactly the numbers they would have without them (the engines are rebuilt
    from the networks, which hold their plain parameters between epochs), and
    ``on_epoch`` gets the records of the networks still training.
    """
    nets = _check_nets(nets)
    lrs = _check_learning_rates(learning_rates, len(nets))
    opts = _check_options(options, len(nets))
    epochs = check_int(epochs, "epochs")
    batch_size = check_int(batch_size, "batch_size")
    seed = check_seed(seed, "seed")
    if on_epoch is not None and not callable(on_epoch):
        raise InvalidTypeError(f"on_epoch must be a function on_epoch(epoch, records) or None, got {on_epoch!r}")
    if blas_threads is not None:
        blas_threads = check_int(blas_threads, "blas_threads")
    if first_layer not in FIRST_LAYERS:
        raise InvalidValueError(f"first_layer must be 'auto', 'measure', 'dense' or 'sparse', got {first_layer!r}")
    if diverged not in ("raise", "drop"):
        raise InvalidValueError(f"diverged must be 'raise' or 'drop', got {diverged!r}")
    # _checked: training.train checked the data but for X_train's finiteness, which the run checks (``_FusedRun``)
    if _checked:
        X_train, X_val = np.ascontiguousarray(X_train), None if X_val is None else np.ascontiguousarray(X_val)
        if first_layer == "measure":  # it trains on X before the run is made
            check_finite(X_train, "X_train")
    else:
        X_train, y_train, X_val, y_val = _check_data(nets[0], X_train, y_train, X_val, y_val, batch_size)
    limits = contextlib.nullcontext() if blas_threads is None else threadpool_limits(blas_threads, user_api="blas")
    frames: list[list[dict]] = [[] for _ in nets]
    gone: dict[int, int] = {}  # position in nets → the epoch it diverged in
    quiet = {"over": "ignore", **({"invalid": "ignore"} if diverged == "drop" else {})}
    with limits, np.errstate(**quiet):
        live = list(range(len(nets)))
        choice = choose_first_layer(nets, lrs, opts, X_train, y_train, X_val, batch_size, epochs, first_layer)
        first_layer = choice["first_layer"]
        unchecked = _checked and first_layer != "measure"
        run = _FusedRun(nets, lrs, opts, X_train, y_train, X_val, y_val, batch_size, seed, first_layer, unchecked)
        start = nets[0].epochs_trained
        span = (start, epochs) if schedule_span is None else (int(schedule_span[0]), int(schedule_span[1]))
        desc = "training" if len(nets) == 1 else f"training {len(nets)} networks"
        # no tqdm object at all without a bar: tqdm makes a multiprocessing lock, which a worker process killed
        # at an interrupt would leave to the resource tracker's "leaked semaphore" warning
        bar = progress_bar(range(start, start + epochs), desc=desc, unit="epoch", leave=False) if progress else None
        for epoch in bar if bar is not None else range(start, start + epochs):
            try:
                records = run.epoch(epoch, *span)
            except TrainingDivergedError as exc:
                if diverged == "raise":
                    raise _named(exc, [live[i] for i in exc.networks]) from None
                records = run.epoch_without(exc.networks, epoch)
                gone.update({live[i]: epoch for i in exc.networks})
                survivors = [j for j, i in enumerate(live) if i not in gone]
                live = [live[j] for j in survivors]
                if not live:
                    break
                run = _FusedRun(
                    [nets[i] for i in live], [lrs[i] for i in live], [opts[i] for i in live],
                    X_train, y_train, X_val, y_val, batch_size, seed, first_layer,
                )  # fmt: skip
            for i, record in zip(live, records, strict=True):
                frames[i].append(record)
            stop = on_epoch(epoch, records) is True if on_epoch is not None else False
            if progress and X_val is not None and records:
                best = max(r["accuracy_test"] for r in records)
                bar.set_postfix({"acc_test" if len(nets) == 1 else "best_acc_test": f"{best:.3f}"})
            if stop:
                break
        if bar is not None:
            bar.close()
    histories = [pd.DataFrame(f, columns=HISTORY_COLUMNS) for f in frames]
    for i, epoch in gone.items():
        histories[i].attrs["diverged_epoch"] = epoch
    for history in histories:
        history.attrs["first_layer"] = first_layer
        history.attrs["first_layer_choice"] = dict(choice)
    return histories


FIRST_LAYERS = ("auto", "measure", "dense", "sparse")
"""``first_layer``'s values: ``auto`` decides by a rule (the same numbers on every run), ``measure`` by timing."""
SPARSE_MIN_NETWORKS = 8
"""``first_layer="auto"`` takes the sparse layer for sparse inputs only when this many networks share it (a grid):
one [784, 50, 10] network trained 1.9× slower with it on an AVX-512 Xeon, the article's grid of 45 networks 1.3×
faster on an AMD Zen and as fast on the Xeon (issue 15; benchmarks/RESULTS.md)."""
FIRST_LAYER_STEPS = 6
"""Training steps timed per first layer when ``first_layer="auto"`` measures (the first is a warm-up; the
fastest of the others counts: on a shared machine, other work only ever adds time)."""


def choose_first_layer(nets, lrs, opts, X_train, y_train, X_val, batch_size, epochs, first_layer="auto") -> dict:
    """The first layer to train with, and why: ``{"first_layer", "density", "dense_step", "sparse_step",
    "sparse_setup", "reason"}`` (seconds; None where not measured).

    ``"dense"``/``"sparse"`` are taken as given. ``"auto"`` with fewer than ``SPARSE_MIN_NETWORKS`` networks:
    dense, without looking at the data (a pass over a sample of it, ~10 ms on MNIST, that one network's
    ``train`` call need not pay). ``"auto"`` and ``"measure"``: dense when more than
    ``sparse.MAX_DENSITY`` of the inputs are off their background (the sparse layer cannot
    pay). Else ``"auto"`` takes the sparse layer for ``SPARSE_MIN_NETWORKS`` networks or more —
    a rule, so that the same command gives the same numbers to the last bit (the two layers round
    differently) — and ``"measure"`` times it on the job itself: a few steps (``FIRST_LAYER_STEPS``) of copies
    of the networks with each first layer, interleaved, on the first rows of the training
    data; the sparse layer is taken when its set-up (the CSR form of the data, timed on
    those rows and scaled to all) plus the epochs' steps take less time than the dense
    steps. When the set-up alone takes longer than the dense epochs (a short run of a
    small network), the sparse steps are not timed: its compiled kernels (and their
    ~50 MB of compiler) are never loaded. Which one wins depends on the CPU (its GEMM against the compiled sparse loops),
    the widths and the batch: one small network gains little from skipping the background,
    a grid of 45 shares one sparse product.
    """
    choice = {"first_layer": first_layer, "density": None, "dense_step": None, "sparse_step": None,
              "sparse_setup": None, "reason": "given"}  # fmt: skip
    if first_layer not in ("auto", "measure"):
        return choice
    if first_layer == "auto" and len(nets) < SPARSE_MIN_NETWORKS:  # dense whatever the density: not measured
        return {**choice, "first_layer": "dense", "reason": f"{len(nets)} network(s) < {SPARSE_MIN_NETWORKS}"}
    spread = X_train[:: max(1, X_train.shape[0] // 8192)]  # a sample of rows is enough to decide
    c = _background(spread)  # (training with the sparse layer takes the background of all rows)
    choice["density"] = share = density(spread, c)
    if share > MAX_DENSITY:
        return {**choice, "first_layer": "dense", "reason": f"density {share:.3f} > {MAX_DENSITY}"}
    if first_layer == "auto":
        return {**choice, "first_layer": "sparse", "reason": f"{len(nets)} network(s) ≥ {SPARSE_MIN_NETWORKS}"}
    n_steps = X_train.shape[0] // batch_size
    rows = min(X_train.shape[0], FIRST_LAYER_STEPS * batch_size)
    if epochs * n_steps <= 4 * FIRST_LAYER_STEPS:
        return {**choice, "first_layer": "dense", "reason": "too few steps to measure"}

    sample = X_train[:rows], y_train[:rows]
    # the sparse set-up first (SciPy, no compiled kernels yet), timed on the sample and scaled to all rows
    SparseRows(sample[0][:2], c)  # SciPy's first-call costs are not the set-up's
    chunk = X_train[: min(X_train.shape[0], 1024)]
    t = time.perf_counter()
    SparseRows(chunk, c)
    setup = (time.perf_counter() - t) * (X_train.shape[0] + (0 if X_val is None else X_val.shape[0])) / len(chunk)
    runs = {
        "dense": _FusedRun([copy.deepcopy(net) for net in nets], lrs, opts, *sample, None, None, batch_size, 0, "dense")
    }  # fmt: skip  (copies: the networks themselves are not touched)
    dense_times = runs["dense"].time_steps(FIRST_LAYER_STEPS, 0)
    total_dense = epochs * n_steps * min(dense_times[1:])
    if setup >= total_dense:  # the sparse layer cannot pay back its set-up: no need to load its compiled kernels
        return {**choice, "first_layer": "dense", "dense_step": min(dense_times[1:]),
                "sparse_setup": setup, "reason": f"measured: {epochs} epochs × {n_steps} steps, dense "
                f"{total_dense:.2f} s, less than the sparse set-up alone ({setup:.2f} s)"}  # fmt: skip
    runs["sparse"] = _FusedRun([copy.deepcopy(net) for net in nets], lrs, opts, *sample, None, None, batch_size, 0,
                               "sparse", c=c)  # fmt: skip
    runs["sparse"].time_steps(1, 0)  # compiles the kernels (cached on disk) before anything is timed
    times = {kind: [] for kind in runs}
    for _ in range(FIRST_LAYER_STEPS):  # interleaved, so that a change of load hits both
        for kind, run in runs.items():
            times[kind] += run.time_steps(1, 0)
    dense, sparse = (min(times[k][1:]) for k in ("dense", "sparse"))
    total_dense, total_sparse = epochs * n_steps * dense, setup + epochs * n_steps * sparse
    kind = "sparse" if total_sparse < total_dense else "dense"
    return {**choice, "first_layer": kind, "dense_step": dense, "sparse_step": sparse, "sparse_setup": setup,
            "reason": f"measured: {epochs} epochs × {n_steps} steps, dense {total_dense:.2f} s, "
            f"sparse {total_sparse:.2f} s with its set-up"}  # fmt: skip


def _named(exc: TrainingDivergedError, networks: list[int]) -> TrainingDivergedError:
    """``exc`` with its network positions those of the caller's ``nets`` (a rebuilt run numbers its own)."""
    exc.networks = networks
    return exc


def _check_data(first, X_train, y_train, X_val, y_val, batch_size):
    """The training and validation data checked for the networks (like ``first``), C-contiguous."""
    X_train = np.ascontiguousarray(check_features(X_train, first.layers[0], first.dtype, name="X_train"))
    y_train = check_labels(y_train, first.n_classes, X_train.shape[0], name="y_train")
    if (X_val is None) != (y_val is None):
        raise InvalidValueError("give both X_val and y_val, or neither (then the test columns of the history are NaN)")
    if X_val is not None:
        X_val = np.ascontiguousarray(check_features(X_val, first.layers[0], first.dtype, name="X_val"))
        y_val = check_labels(y_val, first.n_classes, X_val.shape[0], name="y_val")
    if batch_size > X_train.shape[0]:
        raise InvalidValueError(
            f"batch_size {batch_size} is larger than the {X_train.shape[0]} training samples; choose a smaller one"
        )
    return X_train, y_train, X_val, y_val


class _FusedRun:
    """One ``train_many`` call: its engines (one per recipe and options), buffers and the epoch loop's steps."""

    def __init__(
        self, nets, lrs, opts, X_train, y_train, X_val, y_val, batch_size, seed, first_layer, unchecked=False, c=None
    ):
        """``first_layer``: ``"dense"`` or ``"sparse"`` (``c``: the background, else X_train's). ``unchecked``:
        X_train's finiteness is not checked yet: the compiled gather checks it in the first epoch (one pass over
        X fewer; ``self.unchecked`` until then), else it is checked here, before anything reads X."""
        compiled = first_layer == "dense" and X_train.nbytes >= COMPILED_GATHER_BYTES  # batching.gather_rows
        if unchecked and not compiled:
            check_finite(X_train, "X_train")
        self.unchecked = unchecked and compiled
        self.nets, self.lrs, self.seed, self.batch_size = nets, lrs, seed, batch_size
        self.X_train, self.y_train, self.X_val, self.y_val = X_train, y_train, X_val, y_val
        self.n_seen = 0  # training rows seen in the current epoch
        background = self.val_rows = self.batch = dense = None
        if first_layer == "sparse":
            background = _background(X_train) if c is None else c
            dense = dense_columns(X_train, background)  # float32: the inky columns go to BLAS
            self.batch = SparseBatch(SparseRows(X_train, background, dense), batch_size)
            self.val_rows = SparseRows(X_val, background, dense) if X_val is not None else None
        groups: dict = {}  # (recipe, options) → indices into nets, in order of first appearance
        for i, net in enumerate(nets):
            groups.setdefault((_recipe(net), tuple(opts[i].items())), []).append(i)
        self.engines = [
            (_Engine([nets[i] for i in idx], [lrs[i] for i in idx], opts[idx[0]], background, dense), idx)
            for idx in groups.values()
        ]
        self.bufs: list[_Buffers] = []
        # every engine trains on the same batch: one [X | 1] and one one-hot Y for all
        dt = nets[0].dtype
        self.eye = np.eye(nets[0].n_classes, dtype=dt)  # row k: the one-hot of class k
        self.Y = np.empty((batch_size, nets[0].n_classes), dtype=dt)
        for engine, _ in self.engines:
            X1 = self.bufs[0].X1 if self.bufs else None
            self.bufs.append(_Buffers(engine, batch_size, training=True, X1=X1, batch=self.batch, Y=self.Y))
        self.eval_buffers: list[dict] = [{} for _ in self.engines]
        self.X_rows = None  # NumPy's gather goes through it
        if self.batch is None and not compiled:
            self.X_rows = np.empty((batch_size, X_train.shape[1]), X_train.dtype)

    def epoch(self, epoch, start, epochs):
        """Train every network for one epoch, measure it, refuse divergence, store and return its records."""
        t0 = time.perf_counter()
        sums = self._train(epoch, start, epochs)
        metrics = self._measure(sums)
        seconds = time.perf_counter() - t0
        self._last_metrics, self._last_seconds = metrics, seconds
        self._refuse_divergence(epoch, metrics)
        for engine, _ in self.engines:
            engine.store_parameters()
            engine.store_state()
        return self._record(epoch, metrics, seconds)

    def _train(self, epoch, start, epochs):
        """Every minibatch step of the epoch; per engine the summed training loss and correct counts."""
        for (engine, _), buf in zip(self.engines, self.bufs):
            engine.start_epoch(epoch, start, epochs, self.seed, buf)
            buf.tally.reset()
        self.n_seen = 0
        batches = batch_indices(self.X_train.shape[0], self.batch_size, epoch_rng(self.seed, epoch))
        for idx in batches:
            yb = self._gather(idx)
            for (engine, _), buf in zip(self.engines, self.bufs):
                engine.step(yb, buf)
            self.n_seen += self.batch_size
        if self.unchecked:  # the rows this epoch left out (N mod batch size) were not gathered
            rest = np.ones(self.X_train.shape[0], dtype=bool)
            rest[np.concatenate(batches)] = False
            check_finite(self.X_train[rest], "X_train")
            self.unchecked = False
        for buf in self.bufs:
            buf.tally.count()
        return [(buf.tally.loss_sum, buf.tally.correct) for buf in self.bufs]

    def _gather(self, idx):
        """The batch's rows of X_train into ``[X | 1]`` (or the sparse layer's batch), their one-hot labels into
        ``Y``; returns their labels.

        A large training set (``COMPILED_GATHER_BYTES``): straight into ``[X | 1]`` (``batching.gather_rows``).
        Else ``np.take`` into a contiguous buffer, then one copy into the strided ``X`` of ``[X | 1]``:
        ``take(out=…)`` into a strided view, or with its default ``mode="raise"``, first copies ``out``
        aside and writes it back (3–4× the time of the gather itself, a quarter of an article step).
        The indices come from ``batch_indices``, always in range, so ``mode="clip"`` changes nothing."""
        y = self.y_train[idx]
        np.take(self.eye, y, axis=0, out=self.Y, mode="clip")  # labels were checked: always in range
        if self.batch is not None:
            self.batch.take(idx)
        elif self.X_rows is None:
            if not gather_rows(self.X_train, idx, self.bufs[0].X1):
                check_finite(self.X_train[idx], "X_train")  # raises: a NaN or ±inf in this batch
        else:
            rows = self.X_rows[: idx.shape[0]]
            np.take(self.X_train, idx, axis=0, out=rows, mode="clip")
            np.copyto(self.bufs[0].X[: idx.shape[0]], rows)
        return y

    def time_steps(self, steps, seed):
        """Seconds of each of ``steps`` training steps on the first rows of the data (the networks change)."""
        for (engine, _), buf in zip(self.engines, self.bufs):
            engine.start_epoch(0, 0, 1, seed, buf)
        times = []
        for k in range(steps):
            t = time.perf_counter()
            idx = np.arange(k * self.batch_size, (k + 1) * self.batch_size) % self.X_train.shape[0]
            y = self._gather(idx)
            for (engine, _), buf in zip(self.engines, self.bufs):
                engine.step(y, buf)
            times.append(time.perf_counter() - t)
        return times

    def _measure(self, sums):
        """Per network (order of ``nets``): training loss and correct count, validation loss and correct
        count (NaN and 0 without a validation set), and whether its parameters are finite."""
        n = len(self.nets)
        n_val = self.X_val.shape[0] if self.X_val is not None else np.nan
        loss_tr, loss_va = np.empty(n), np.empty(n)
        correct, val_correct = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        finite = np.ones(n, dtype=bool)
        for (engine, idx), (loss_sum, right), ebufs in zip(self.engines, sums, self.eval_buffers):
            if self.X_val is not None:
                val_loss, val_right = engine.evaluate(self.X_val, self.y_val, ebufs, self.val_rows)
            else:
                val_loss, val_right = np.full(engine.n_nets, np.nan), np.zeros(engine.n_nets, dtype=np.int64)
            slots = [engine.slot[j] for j in range(len(idx))]
            loss_tr[idx] = (loss_sum / (self.n_seen * engine.loss_divisor))[slots]
            loss_va[idx] = (val_loss / (n_val * engine.loss_divisor))[slots]
            correct[idx], val_correct[idx] = right[slots], val_right[slots]
            engine.sync()
            finite[idx] = engine.finite_networks()
        finite &= np.isfinite(loss_tr) & (np.isfinite(loss_va) | (self.X_val is None))
        return loss_tr, correct, loss_va, val_correct, n_val, finite

    def epoch_without(self, bad, epoch):
        """After an epoch that diverged for the networks at positions ``bad``: keep the others' new parameters,
        optimiser state and records; the diverged ones keep what they held before the epoch."""
        saved = {
            i: ([w.copy() for w in self.nets[i].weights], [b.copy() for b in self.nets[i].biases],
                self.nets[i].optimizer_state)
            for i in bad
        }  # fmt: skip
        for engine, _ in self.engines:
            engine.store_parameters()
            engine.store_state()
        for i, (weights, biases, state) in saved.items():
            net = self.nets[i]
            for k in range(net.n_layers):
                net.weights[k][...] = weights[k]
                net.biases[k][...] = biases[k]
            net.optimizer_state = state
        records = self._record(epoch, self._last_metrics, self._last_seconds, skip=set(bad))
        return records

    def _refuse_divergence(self, epoch, metrics):
        """``TrainingDivergedError`` naming the networks whose loss or parameters turned non-finite; the
        networks still hold the last epoch's parameters (the packed ones are written back only after this)."""
        bad = np.flatnonzero(~metrics[-1]).tolist()
        if not bad:
            return
        names = ", ".join(f"nets[{i}] (layers {self.nets[i].layers}, learning rate {self.lrs[i]})" for i in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise TrainingDivergedError(
            f"training diverged in epoch {epoch}: the loss or the weights of {names}{more} became NaN/infinite; "
            "every network keeps its parameters from before that epoch. Try a smaller learning rate.",
            epoch=epoch,
            networks=bad,
        )

    def _record(self, epoch, metrics, seconds, skip=frozenset()):
        """One history record per network (but those in ``skip``), appended to its ``history_records``."""
        loss_tr, correct, loss_va, val_correct, n_val, _ = metrics
        records = []
        for i, net in enumerate(self.nets):
            if i in skip:
                continue
            record = {
                "epoch": epoch,
                "loss_training": float(loss_tr[i]),
                "accuracy_training": int(correct[i]) / self.n_seen,
                "loss_test": float(loss_va[i]),
                "accuracy_test": int(val_correct[i]) / n_val,
                "seconds": seconds,
            }
            net.history_records.append(record)
            records.append(record)
        return records
