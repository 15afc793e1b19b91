"""Layers: gradients by central differences for every parameter of every layer type, shapes, dtypes, semantics."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet.errors import InvalidValueError
from scratchnet.layers import BatchNorm, Conv, Dropout, MaxPool, make_layer
from scratchnet.model import LayeredNetwork

# every layer type and option at least once; inputs are (2, 5, 4) images (small: every weight costs two forward passes)
ARCHS = [
    "flatten dense(4) sigmoid dense(3)",
    "flatten dense(4) tanh dense(4) relu dense(4) leaky_relu dense(4) identity dense(3)",
    "conv(3, 3) tanh flatten dense(3)",
    "conv(2, 3, padding=1) sigmoid conv(2, (2, 3), stride=(2, 1), padding=(1, 0)) tanh flatten dense(3)",
    "conv(3, 3, stride=2, padding=2) tanh flatten dense(3)",
    "conv(3, 2) tanh maxpool(2) flatten dense(3)",
    "conv(3, 2) tanh maxpool(3, stride=1) flatten dense(3)",
    "conv(3, 2) tanh avgpool(2) flatten dense(3)",
    "conv(3, 2) tanh avgpool((2, 3), stride=1) flatten dense(3)",
    "conv(4, 3, padding=1) tanh globalavgpool dense(3)",
    "conv(2, 3) batchnorm tanh flatten dense(4) batchnorm sigmoid dense(3)",
    "conv(3, 3) tanh flatten dropout(0.3) dense(4) tanh dropout(0.5) dense(3)",
    "conv(2, 3, padding=1) tanh residual(conv(2, 3, padding=1) tanh conv(2, 3, padding=1)) tanh globalavgpool dense(3)",
    "conv(2, 3, padding=1) tanh residual(conv(4, 3, stride=2, padding=1) batchnorm tanh) globalavgpool dense(3)",
    "conv(2, 1) residual(tanh, shortcut='projection') globalavgpool dense(3)",
    "flatten dense(5) tanh residual(dense(5) tanh dense(5)) residual(dense(4) sigmoid) dense(3)",
    "conv(2, 3, padding=1) residual(residual(conv(2, 3, padding=1) tanh) tanh) globalavgpool dense(3)",
]
SHAPE = (2, 5, 4)


def _problem(seed=0, n=4, shape=SHAPE, n_classes=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, *shape))
    y = np.arange(n) % n_classes
    return X, np.eye(n_classes)[y]


def _check(model, X, Y, rtol=1e-5, atol=1e-8):
    _, analytic = model.gradients(X, Y)
    numeric = model.backward_numerical(X, Y, eps=1e-6)
    assert analytic.keys() == numeric.keys() == dict(model.named_params()).keys()
    for name in analytic:
        np.testing.assert_allclose(analytic[name], numeric[name], rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("arch", ARCHS)
def test_gradients_match_central_differences(arch):
    model = LayeredNetwork(arch, SHAPE, seed=1)
    _check(model, *_problem())


@pytest.mark.parametrize("output, loss", [("sigmoid", "mse"), ("softmax", "mse"), ("sigmoid", "binary_cross_entropy")])
def test_gradients_with_every_head(output, loss):
    model = LayeredNetwork("conv(2, 3) tanh flatten dense(3)", SHAPE, output=output, loss=loss, seed=2)
    _check(model, *_problem(1))


def _random_arch(draw):
    """A random small valid architecture on (1, 5, 5) images: image stage, then a flat stage."""
    acts = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
    layers, c, h = [], 1, 5
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["conv", "act", "pool", "bn", "res"]))
        if kind == "conv":
            k = draw(st.integers(1, min(3, h)))
            p = draw(st.integers(0, 1))
            s = draw(st.integers(1, 2))
            c = draw(st.integers(1, 3))
            layers.append(f"conv({c}, {k}, stride={s}, padding={p})")
            h = (h + 2 * p - k) // s + 1
        elif kind == "act":
            layers.append(draw(st.sampled_from(acts)))
        elif kind == "pool" and h >= 2:
            layers.append(draw(st.sampled_from(["maxpool(2)", "avgpool(2)", "maxpool(2, stride=1)"])))
            h = h // 2 if layers[-1] != "maxpool(2, stride=1)" else h - 1
        elif kind == "bn":
            layers.append("batchnorm")
        elif kind == "res":
            c2 = draw(st.integers(1, 3))
            layers.append(f"residual(conv({c2}, 3, padding=1) {draw(st.sampled_from(acts))})")
            c = c2
    layers.append(draw(st.sampled_from(["flatten", "globalavgpool"])))
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["dense", "act", "dropout", "res"]))
        if kind == "dense":
            layers.append(f"dense({draw(st.integers(2, 5))})")
        elif kind == "act":
            layers.append(draw(st.sampled_from(acts)))
        elif kind == "dropout":
            layers.append("dropout(0.3)")
        else:
            layers.append(f"residual(dense({draw(st.integers(2, 4))}) tanh)")
    layers.append("dense(3)")
    return " ".join(layers)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(st.data())
def test_gradients_of_random_architectures(data):
    arch = data.draw(st.composite(_random_arch)())
    model = LayeredNetwork(arch, (1, 5, 5), seed=data.draw(st.integers(0, 100)))
    # relu, leaky_relu and maxpool have kinks: central differences are off where a step crosses one
    _check(model, *_problem(3, n=3, shape=(1, 5, 5)), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("arch", ARCHS)
def test_float32_stays_float32(arch):
    model = LayeredNetwork(arch, SHAPE, dtype=np.float32, seed=1)
    X, Y = _problem()
    model64 = LayeredNetwork(arch, SHAPE, seed=1)
    np.testing.assert_allclose(model.predict_proba(X), model64.predict_proba(X), atol=1e-5)
    assert model.forward(X, training=True).dtype == np.float32
    grads = model.backward(Y.astype(np.float32))
    assert all(g.dtype == np.float32 for g in grads)
    assert all(p.dtype == np.float32 for p in model.param_list())


def test_conv_shapes_and_weight_layout():
    conv = Conv(5, (3, 2), stride=(2, 1), padding=(1, 0))
    assert conv.build((3, 9, 8)) == (5, 5, 7)
    assert conv.params["W"].shape == (5, 3, 3, 2) and conv.params["b"].shape == (5,)
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
    out = conv.forward(x)
    # one output pixel by hand: the cross-correlation of the padded window with the kernel
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    expected = np.sum(xp[1, :, 4:7, 3:5] * conv.params["W"][2]) + conv.params["b"][2]
    assert out.shape == (2, 5, 5, 7)
    assert out[1, 2, 2, 3] == pytest.approx(expected)


def test_maxpool_routes_the_gradient_to_the_first_maximum():
    pool = MaxPool(2)
    pool.build((1, 2, 2))
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    assert pool.forward(x)[0, 0, 0, 0] == 3.0
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, 0], [[0, 1], [0, 0]])


def test_pooling_crops_what_does_not_fit():
    model = LayeredNetwork("maxpool(2) flatten dense(2)", (1, 5, 5), seed=0)
    assert model.layers[0].out_shape == (1, 2, 2)


def test_batchnorm_running_statistics_and_inference():
    bn = BatchNorm()
    bn.build((3,))
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(50, 3))
    y = bn.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(bn.buffers["running_var"], 0.9 + 0.1 * x.var(axis=0, ddof=1))
    bn.buffers["running_mean"][:] = 1.0
    bn.buffers["running_var"][:] = 4.0
    np.testing.assert_allclose(bn.forward(x), (x - 1.0) / np.sqrt(4.0 + 1e-5))


def test_batchnorm_on_images_normalises_each_channel():
    bn = BatchNorm()
    bn.build((2, 3, 3))
    x = np.random.default_rng(0).normal(5.0, 2.0, size=(4, 2, 3, 3))
    y = bn.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)


def test_dropout_is_inverted_and_off_at_inference():
    d = Dropout(0.25)
    d.build((1000,))
    d.rng = np.random.default_rng(0)
    x = np.ones((20, 1000))
    y = d.forward(x, training=True)
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert abs(y.mean() - 1) < 0.02
    np.testing.assert_array_equal(d.forward(x, training=False), x)


def test_activation_layers_use_the_activation_table():
    from scratchnet.activations import ACTIVATIONS

    z = np.linspace(-3, 3, 13)[None]
    for name, f in ACTIVATIONS.items():
        layer = make_layer(name)
        layer.build((13,))
        np.testing.assert_array_equal(layer.forward(z), f(z))


@pytest.mark.parametrize(
    "arch, shape, words",
    [
        ("conv(8, 3) relu dense(10)", (1, 28, 28), ["layer 2", "dense(10)", "(8, 26, 26)", "flatten"]),
        ("flatten conv(8, 3) dense(10)", (1, 28, 28), ["layer 1", "conv(8, 3)", "(784,)"]),
        ("conv(8, 7) conv(8, 7) conv(8, 7) flatten dense(3)", (1, 12, 12), ["layer 1", "does not fit"]),
        ("maxpool(4) maxpool(4) flatten dense(3)", (1, 6, 6), ["layer 1", "maxpool(4)"]),
        ("residual(conv(8, 3)) flatten dense(2)", (1, 6, 6), ["layer 0", "projection"]),
        ("residual(dense(3), shortcut='identity') dense(3)", (4,), ["identity shortcut"]),
        ("conv(4, 3)", (1, 6, 6), ["last layer", "(4, 4, 4)"]),
        ("dense(1)", (4,), ["at least 2"]),
    ],
)
def test_shape_mismatch_is_one_line_naming_the_layer(arch, shape, words):
    with pytest.raises(InvalidValueError) as info:
        LayeredNetwork(arch, shape)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_first_layer_computes_no_input_gradient():
    model = LayeredNetwork("conv(2, 3) flatten dense(2)", (1, 5, 5), seed=0)
    model.forward(np.zeros((2, 1, 5, 5)))
    assert model.layers[0].backward(np.ones((2, 2, 3, 3))) is None


def test_gradcheck_lines_in_the_article_style():
    from scratchnet.model import gradcheck_lines

    model = LayeredNetwork("conv(2, 3) batchnorm tanh flatten dense(3)", SHAPE, seed=0)
    lines = gradcheck_lines(model, *_problem())
    assert lines[0] == "layer 0 conv(2, 3): 36 out of 36 W gradients are numerically equal"
    assert "layer 1 batchnorm: 2 out of 2 gamma gradients are numerically equal" in lines
    assert lines[-1] == "Gradients look in order!"
    model.layers[2].backward = lambda g: g * 0  # a broken layer is caught
    assert "Gradients do NOT match" in "\n".join(gradcheck_lines(model, *_problem()))
