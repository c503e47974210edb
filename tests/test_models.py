"""The assignment's two networks: sizes, accepted inputs, and one whole
training step (forward, cross_entropy, backward, Adam) against PyTorch with
the same weights: the same loss, gradients and updated weights."""
import numpy as np
import pytest
import torch
from helpers import DEVICES, host, on

import minigrad
import minigrad.functional as F
from minigrad import backend, models, no_grad, optim


class TorchGlobalPool(torch.nn.Module):
    """(N, C, H, W) → (N, C): PyTorch's twin of our GlobalMaxPool2d / GlobalAvgPool2d."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def forward(self, x):
        if self.kind == "max":
            return torch.nn.functional.adaptive_max_pool2d(x, 1).flatten(1)
        return x.mean(dim=(2, 3))


def torch_conv_blocks(last_channels):
    nn = torch.nn
    return [nn.Conv2d(1, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, last_channels, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2)]


def torch_fixed_res_cnn():
    return torch.nn.Sequential(*torch_conv_blocks(64), torch.nn.Flatten(), torch.nn.Linear(576, 10))


def torch_var_res_cnn(n=81, pooling="max"):
    return torch.nn.Sequential(*torch_conv_blocks(n), TorchGlobalPool(pooling),
                               torch.nn.Linear(n, 10))


NETWORKS = {  # name: (ours, torch's, input side)
    "fixed": (models.fixed_res_cnn, torch_fixed_res_cnn, 28),
    "var-max": (lambda: models.var_res_cnn(81, "max"), lambda: torch_var_res_cnn(81, "max"), 40),
    "var-mean": (lambda: models.var_res_cnn(81, "mean"), lambda: torch_var_res_cnn(81, "mean"), 40),
}


def n_parameters(model):
    return sum(p.numel() for p in model.parameters())


# ----- sizes and inputs ----------------------------------------------------------------------

def test_fixed_res_cnn_has_29066_parameters():
    assert n_parameters(models.fixed_res_cnn()) == 29_066
    assert sum(p.numel() for p in torch_fixed_res_cnn().parameters()) == 29_066


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_var_res_cnn_has_29029_parameters(pooling):
    assert n_parameters(models.var_res_cnn(pooling=pooling)) == 29_029  # last_channels=81
    assert sum(p.numel() for p in torch_var_res_cnn(81, pooling).parameters()) == 29_029


@pytest.mark.parametrize("last_channels", [1, 64, 81, 100])
def test_var_res_cnn_last_channels_sets_the_last_conv_and_the_linear(last_channels):
    """Conv 1→16 (160) and 16→32 (4,640) are fixed; conv 32→c has 289·c and Linear c→10
    has 10·c + 10 parameters: 4,810 + 299·c in all."""
    model = models.var_res_cnn(last_channels=last_channels)
    shapes = {name: p.shape for name, p in model.named_parameters()}
    assert shapes["6.weight"] == (last_channels, 32, 3, 3)
    assert shapes["10.weight"] == (10, last_channels)
    assert n_parameters(model) == 4_810 + 299 * last_channels


def test_parameter_names_match_the_torch_models():
    for name, (ours, theirs, _) in NETWORKS.items():
        assert list(ours().state_dict()) == list(theirs().state_dict()), name


@pytest.mark.parametrize("device", DEVICES)
def test_fixed_res_cnn_maps_28x28_images_to_10_logits(device):
    model = models.fixed_res_cnn().to(device)
    with no_grad():
        out = model(on(device, np.zeros((3, 1, 28, 28), dtype=np.float32)))
    assert out.shape == (3, 10) and out.device == device


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("pooling", ["max", "mean"])
@pytest.mark.parametrize("side", [32, 48, 64, 8, 13])
def test_var_res_cnn_accepts_any_resolution_from_8x8(device, pooling, side):
    model = models.var_res_cnn(81, pooling).to(device)
    x = np.random.default_rng(side).standard_normal((2, 1, side, side)).astype(np.float32)
    with no_grad():
        out = model(on(device, x))
    assert out.shape == (2, 10) and out.device == device and out.dtype == np.float32
    assert np.isfinite(host(out)).all()


@pytest.mark.parametrize("device", DEVICES)
def test_var_res_cnn_rejects_inputs_smaller_than_8x8(device):
    model = models.var_res_cnn().to(device)
    with pytest.raises(minigrad.ShapeError, match=r"layer 8.*max_pool2d: the kernel spans"):
        model(on(device, np.zeros((1, 1, 7, 7), dtype=np.float32)))


def test_var_res_cnn_rejects_an_unknown_pooling():
    with pytest.raises(ValueError, match="'max' or 'mean'"):
        models.var_res_cnn(pooling="sum")


# ----- one training step against PyTorch -----------------------------------------------------

TOLERANCE = {np.float64: 1e-7, np.float32: 1e-4}


def _assert_close(ours, theirs, rtol, what):
    """Relative to each element, with an absolute floor at rtol × the array's scale:
    entries that cancel to near zero are judged against the size of their neighbours."""
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale, err_msg=what)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("network", NETWORKS)
def test_one_training_step_matches_torch(device, dtype, network):
    make_ours, make_theirs, side = NETWORKS[network]
    torch.manual_seed(0)
    reference = make_theirs()
    model = make_ours()
    model.load_state_dict({name: v.detach().numpy() for name, v in reference.state_dict().items()})
    if dtype == np.float64:
        reference.double()
        for p in model.parameters():
            p.data = p.data.astype(np.float64)
    model.to(device)
    before = [p.numpy() for p in model.parameters()]

    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 1, side, side)).astype(dtype)
    labels = rng.integers(0, 10, size=4)
    ours_opt = optim.Adam(model.parameters(), lr=1e-3)
    torch_opt = torch.optim.Adam(reference.parameters(), lr=1e-3)

    loss = F.cross_entropy(model(on(device, x, requires_grad=False)), labels)
    loss.backward()
    ours_opt.step()
    expected = torch.nn.functional.cross_entropy(reference(torch.from_numpy(x)),
                                                 torch.from_numpy(labels))
    expected.backward()
    torch_opt.step()

    rtol = TOLERANCE[dtype]
    assert loss.dtype == dtype
    np.testing.assert_allclose(host(loss), expected.item(), rtol=rtol)
    pairs = zip(model.named_parameters(), reference.named_parameters(), before)
    for (name, p), (_, q), start in pairs:
        assert p.dtype == dtype and p.device == device
        _assert_close(host(p.grad), q.grad.numpy(), rtol, f"{network}: gradient of {name}")
        _assert_close(p.numpy(), q.detach().numpy(), rtol, f"{network}: updated {name}")
        # The step itself (about lr = 1e-3) is far smaller than the weights: compare it alone too.
        _assert_close(p.numpy() - start, q.detach().numpy() - start, rtol,
                      f"{network}: step of {name}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("make_optimizer", [lambda ps: optim.Adam(ps, weight_decay=1e-4),
                                            lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)],
                         ids=["adam", "sgd-momentum"])
def test_a_float32_training_step_stays_float32(device, network, make_optimizer):
    minigrad.manual_seed(0)
    model = NETWORKS[network][0]().to(device)
    side = NETWORKS[network][2]
    optimizer = make_optimizer(model.parameters())
    x = np.random.default_rng(0).standard_normal((2, 1, side, side)).astype(np.float32)
    for _ in range(2):  # the second step meets existing buffers
        optimizer.zero_grad()
        loss = F.cross_entropy(model(on(device, x, requires_grad=False)), np.array([3, 7]))
        assert loss.dtype == np.float32
        loss.backward()
        optimizer.step()
    for name, p in model.named_parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32, name
        assert backend.device_of(p.data) == device and backend.device_of(p.grad) == device, name
    for state in optimizer.state.values():
        for name, value in state.items():
            if name != "step":
                assert value.dtype == np.float32 and backend.device_of(value) == device, name
