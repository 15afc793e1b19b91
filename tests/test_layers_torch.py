"""Forward outputs, losses, gradients and running statistics against PyTorch autograd on the same weights (float64)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scratchnet.model import LayeredNetwork  # noqa: E402
from scratchnet.torch_export import to_torch, torch_grad_names  # noqa: E402

ARCHS = [
    "flatten dense(6) sigmoid dense(5) tanh dense(4) relu dense(4) leaky_relu dense(4) identity dense(3)",
    "conv(4, 3) relu flatten dense(3)",
    "conv(4, (3, 2), stride=(2, 1), padding=(1, 2)) tanh conv(3, 2, stride=2, padding=1) flatten dense(3)",
    "conv(4, 3, padding=1) relu maxpool(2) flatten dense(3)",
    "conv(4, 2) tanh maxpool(3, stride=2) flatten dense(3)",
    "conv(4, 2) tanh maxpool((2, 3), stride=1) flatten dense(3)",
    "conv(4, 3, padding=1) sigmoid avgpool(2) flatten dense(3)",
    "conv(4, 2) sigmoid avgpool(3, stride=2) flatten dense(3)",
    "conv(5, 3, padding=1) relu globalavgpool dense(3)",
    "conv(4, 3) batchnorm relu flatten dense(5) batchnorm tanh dense(3)",
    "conv(4, 3, padding=1) relu residual(conv(4, 3, padding=1) batchnorm relu conv(4, 3, padding=1)) relu flatten dense(3)",
    "conv(3, 3, padding=1) residual(conv(6, 3, stride=2, padding=1) relu conv(6, 3, padding=1)) globalavgpool dense(3)",
    "conv(3, 1) residual(tanh, shortcut='projection') flatten dense(3)",
    "flatten dense(6) relu residual(dense(6) tanh dense(6)) residual(dense(4) sigmoid) dense(3)",
    "lenet5",
]


def _data(shape, n=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, *shape))
    y = np.arange(n) % 3
    return X, y


def _compare(model, X, y, tol=1e-8):
    net = to_torch(model)
    net.train()
    loss, grads = model.gradients(X, np.eye(model.n_classes)[y])
    out = net(torch.from_numpy(X))
    np.testing.assert_allclose(model.logits(X, training=True), out.detach().numpy(), rtol=0, atol=tol)
    loss_t = torch.nn.functional.cross_entropy(out, torch.from_numpy(y))
    loss_t.backward()
    assert loss == pytest.approx(loss_t.item(), abs=tol)
    params = dict(net.named_parameters())
    for name, key in torch_grad_names(model).items():
        g = params[key].grad.numpy()
        if g.ndim == 2:  # dense: PyTorch's weight is W transposed
            g = g.T
        np.testing.assert_allclose(grads[name], g, rtol=0, atol=tol, err_msg=name)
    return net


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_loss_and_gradients_match_torch(arch):
    shape = (1, 28, 28) if arch == "lenet5" else (2, 9, 8)
    model = LayeredNetwork(arch, shape, seed=3)
    _compare(model, *_data(shape))


def test_batchnorm_running_statistics_and_inference_match_torch():
    model = LayeredNetwork("conv(4, 3) batchnorm relu flatten dense(5) batchnorm dense(3)", (2, 6, 6), seed=0)
    net = to_torch(model)
    net.train()
    for seed in range(3):  # three training steps' forward passes update the running statistics
        X, _ = _data((2, 6, 6), n=5, seed=seed)
        model.forward(X, training=True)
        net(torch.from_numpy(X))
    torch_state = net.state_dict()
    for name, value in model.named_buffers():
        key = name.split(".", 1)[1]
        np.testing.assert_allclose(value, torch_state[key].numpy(), rtol=0, atol=1e-12, err_msg=name)
    net.eval()
    X, _ = _data((2, 6, 6), n=4, seed=9)
    np.testing.assert_allclose(model.logits(X), net(torch.from_numpy(X)).detach().numpy(), rtol=0, atol=1e-10)


def test_sigmoid_mse_head_matches_torch():
    model = LayeredNetwork("conv(3, 3) tanh flatten dense(3)", (1, 6, 6), output="sigmoid", loss="mse", seed=0)
    X, y = _data((1, 6, 6))
    Y = np.eye(3)[y]
    loss, grads = model.gradients(X, Y)
    net = to_torch(model)
    loss_t = torch.nn.functional.mse_loss(torch.sigmoid(net(torch.from_numpy(X))), torch.from_numpy(Y))
    loss_t.backward()
    assert loss == pytest.approx(loss_t.item(), abs=1e-12)
    np.testing.assert_allclose(grads["layers.0.W"], net[0].weight.grad.numpy(), atol=1e-10)


def test_float32_is_close_to_torch():
    model = LayeredNetwork("cnn", (1, 28, 28), dtype=np.float32, seed=0)
    X, _ = _data((1, 28, 28), n=4)
    net = to_torch(model).eval()
    out = net(torch.from_numpy(X.astype(np.float32))).detach().numpy()
    np.testing.assert_allclose(model.logits(X), out, rtol=1e-4, atol=1e-5)


def test_adam_training_steps_match_torch():
    """Ten Adam steps through scratchnet.optimizers land on torch.optim.Adam's weights."""
    from scratchnet.optimizers import Adam

    model = LayeredNetwork("conv(3, 3) relu maxpool(2) flatten dense(3)", (1, 8, 8), seed=0)
    net = to_torch(model)
    opt_t = torch.optim.Adam(net.parameters(), lr=0.01)
    opt = Adam(0.01)
    params = model.param_list()
    for step in range(10):
        X, y = _data((1, 8, 8), seed=step)
        model.forward(X, training=True)
        opt.update(params, model.backward(np.eye(3)[y]))
        opt_t.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        opt_t.step()
    np.testing.assert_allclose(model.layers[0].params["W"], net[0].weight.detach().numpy(), atol=1e-10)
