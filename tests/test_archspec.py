"""The architecture language: good specs parse and print back, bad specs are one-line errors."""

import json

import pytest

from scratchnet.archspec import ARCHITECTURES, format_arch, parse_arch, split_layers
from scratchnet.errors import InvalidValueError
from scratchnet.layers import Activation, BatchNorm, Conv, Dense, Dropout, MaxPool, Residual
from scratchnet.model import LayeredNetwork

CNN = (
    "conv(32, 3, padding=1) relu maxpool(2) conv(64, 3, padding=1) relu maxpool(2) flatten "
    "dropout(0.25) dense(128) relu dropout(0.5) dense(10)"
)


def test_the_issue_example():
    layers = parse_arch(CNN)
    assert [type(x).__name__ for x in layers] == [
        "Conv", "Activation", "MaxPool", "Conv", "Activation", "MaxPool", "Flatten",
        "Dropout", "Dense", "Activation", "Dropout", "Dense",
    ]  # fmt: skip
    conv = layers[0]
    assert (conv.out_channels, conv.kernel, conv.stride, conv.padding) == (32, (3, 3), (1, 1), (1, 1))
    assert layers[7].p == 0.25 and layers[8].n_out == 128
    assert format_arch(layers) == CNN


@pytest.mark.parametrize(
    "spec",
    [
        "dense(10)",
        "conv(8, (3, 5), stride=(1, 2), padding=(2, 0)) leaky_relu avgpool(2, stride=1) globalavgpool dense(10)",
        "batchnorm(momentum=0.2, eps=0.001) identity flatten dense(3, init='he')",
        "residual(conv(16, 3, padding=1) relu conv(16, 3, padding=1)) relu",
        "residual(dense(4) tanh, shortcut='projection') sigmoid",
        "residual(residual(dense(4) tanh) dense(4))",
        "maxpool(3, stride=2) conv(4, 1)",
    ],
)
def test_specs_print_back_to_themselves(spec):
    layers = parse_arch(spec)
    assert format_arch(parse_arch(format_arch(layers))) == format_arch(layers)
    assert format_arch(layers) == spec


def test_spacing_case_and_hyphens_are_forgiven():
    layers = parse_arch("  Conv (8,3,padding = 1)   Leaky-ReLU\tmaxpool( 2 )\nflatten  dense(10)  ")
    assert format_arch(layers) == "conv(8, 3, padding=1) leaky_relu maxpool(2) flatten dense(10)"


def test_residual_parts():
    (block,) = parse_arch("residual(conv(16, 3, padding=1) batchnorm relu, shortcut='projection')")
    assert isinstance(block, Residual) and block.shortcut_kind == "projection"
    assert [type(x) for x in block.body] == [Conv, BatchNorm, Activation]


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_named_architectures_build_on_mnist_images(name):
    model = LayeredNetwork(name, (1, 28, 28), seed=0)
    assert model.n_classes == 10
    assert model.arch == ARCHITECTURES[name]


def test_named_cnn_is_the_issue_network():
    assert ARCHITECTURES["cnn"] == CNN
    assert format_arch(parse_arch("CNN")) == CNN


@pytest.mark.parametrize("content", [CNN, split_layers(CNN), {"arch": CNN}, {"arch": split_layers(CNN)}])
def test_json_files(tmp_path, content):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(content))
    assert format_arch(parse_arch(str(path))) == CNN


def test_split_layers_respects_nesting_and_quotes():
    assert split_layers("a(1, (2, 3)) b residual(c(1) d, shortcut='x y') e") == [
        "a(1, (2, 3))",
        "b",
        "residual(c(1) d, shortcut='x y')",
        "e",
    ]


@pytest.mark.parametrize(
    "spec, words",
    [
        ("", ["empty"]),
        ("conv(32, 3", ["unclosed parenthesis"]),
        ("conv(32, 3))", ["unbalanced"]),
        ("conv(32, 3, padding=)", ["conv(32, 3, padding=)", "syntax"]),
        ("conv(32, 3, paddin=1)", ["conv(32, 3, paddin=1)", "paddin"]),
        ("conv(32)", ["conv(32)", "kernel_size"]),
        ("conv(0, 3)", ["out_channels"]),
        ("conv(8, 3, padding=-1)", ["padding"]),
        ("dense(10.5)", ["dense(10.5)", "n_out"]),
        ("dense(n)", ["literals"]),
        ("dense(__import__('os').getpid())", ["literals"]),
        ("dense(*[3])", ["plain values"]),
        ("dropout(1.0)", ["dropout", "[0, 1)"]),
        ("relu(2)", ["relu", "no arguments"]),
        ("softmax", ["unknown layer 'softmax'", "dense"]),
        ("conv2d(8, 3)", ["unknown layer 'conv2d'"]),
        ("dense(3)x", ["dense(3)x"]),
        ("residual", ["needs a body"]),
        ("residual()", ["needs a body"]),
        ("residual(dense(3), 4)", ["shortcut"]),
        ("residual(dense(3), shortcut='both')", ["shortcut"]),
        ("residual(dense(3) bogus)", ["bogus"]),
        ("batchnorm(momentum=2)", ["momentum"]),
        ("missing.json", ["does not exist"]),
        ("1conv", ["not a layer"]),
    ],
)
def test_bad_specs_are_one_line_errors(spec, words):
    with pytest.raises(InvalidValueError) as info:
        parse_arch(spec)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_bad_json_file(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("{not json")
    with pytest.raises(InvalidValueError, match="not readable JSON"):
        parse_arch(str(path))
    path.write_text("[1, 2]")
    with pytest.raises(InvalidValueError, match="must hold"):
        parse_arch(str(path))


def test_layer_objects_are_fresh_each_parse():
    a, b = parse_arch("dense(3)"), parse_arch("dense(3)")
    assert a[0] is not b[0] and isinstance(a[0], Dense)
    assert isinstance(parse_arch("dropout(0.1)")[0], Dropout) and isinstance(parse_arch("maxpool(2)")[0], MaxPool)
