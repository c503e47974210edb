"""The package face a PyTorch user expects: `import minigrad` brings nn, optim and
functional; `minigrad.nn.functional` is the same module; a PyTorch state_dict loads."""
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import DEVICES, host

import minigrad
import minigrad.nn.functional as F
from minigrad import backend, models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_fresh(code):
    """Run ``code`` in a new Python process that imports this checkout's minigrad."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("code", [
    "import minigrad.nn",
    "import minigrad.optim",
    "import minigrad.functional",
    "import minigrad.models",
    "import minigrad.nn.functional as F; import minigrad; assert F is minigrad.functional",
    "from minigrad.nn import functional as F; F.relu",
    "import minigrad; minigrad.nn.Linear; minigrad.optim.SGD; minigrad.functional.conv2d",
])
def test_imports_in_a_fresh_process(code):
    run_fresh(code)  # an import cycle fails only in a process that imports this module first


def test_minigrad_never_imports_torch():
    run_fresh("import sys, minigrad, minigrad.models\n"
              "model = minigrad.models.fixed_res_cnn()\n"
              "model.load_state_dict(model.state_dict())\n"
              "assert 'torch' not in sys.modules, 'minigrad imported torch'")


def test_one_functional_module_under_two_names():
    assert minigrad.functional is minigrad.nn.functional is F
    assert sys.modules["minigrad.nn.functional"] is sys.modules["minigrad.functional"]
    for name in ["nn", "optim", "functional"]:
        assert name in minigrad.__all__ and getattr(minigrad, name).__name__ == f"minigrad.{name}"
    assert minigrad.optim.SGD.__module__ == "minigrad.optim.sgd"


# ----- a PyTorch state_dict loads as it is ---------------------------------------------------

def torch_fixed_res_cnn(torch):
    """models.fixed_res_cnn's layout in PyTorch."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(576, 10))


@pytest.mark.parametrize("keep_vars", [False, True], ids=["tensors", "parameters"])
@pytest.mark.parametrize("device", DEVICES)
def test_a_torch_state_dict_loads_and_gives_torchs_outputs(device, keep_vars):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch_fixed_res_cnn(torch)
    ours = models.fixed_res_cnn().to(device)
    ours.load_state_dict(theirs.state_dict(keep_vars=keep_vars))  # keep_vars: requires_grad
    for name, p in ours.named_parameters():
        assert p.device == device
        np.testing.assert_array_equal(p.numpy(), theirs.state_dict()[name].numpy(), err_msg=name)
    images = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    expected = theirs(torch.tensor(images)).detach().numpy()
    out = ours(minigrad.Tensor(images, device=device))
    np.testing.assert_allclose(host(out), expected, rtol=1e-5, atol=1e-6)


def test_loaded_parameters_are_copies():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Linear(3, 2)
    ours = minigrad.nn.Linear(3, 2)
    ours.load_state_dict(theirs.state_dict())
    before = ours.weight.numpy()
    with torch.no_grad():
        theirs.weight.fill_(7.0)  # the state_dict's tensors share this storage
    np.testing.assert_array_equal(ours.weight.numpy(), before)
    state = {"weight": np.ones((2, 3), np.float32), "bias": np.zeros(2, np.float32)}
    ours.load_state_dict(state)
    state["weight"][...] = 5.0
    np.testing.assert_array_equal(ours.weight.numpy(), np.ones((2, 3)))


def test_device_arrays_and_tensors_load():
    ours = minigrad.nn.Linear(3, 2)
    weight = backend.to_device(np.full((2, 3), 2.0, np.float32), "gpu")
    ours.load_state_dict({"weight": weight, "bias": minigrad.Tensor(np.ones(2, np.float32))})
    assert ours.weight.device == "cpu"
    np.testing.assert_array_equal(ours.weight.numpy(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(ours.bias.numpy(), np.ones(2))


def test_a_mismatched_torch_state_dict_names_every_problem_and_loads_nothing():
    torch = pytest.importorskip("torch")
    theirs = torch_fixed_res_cnn(torch)
    theirs[10] = torch.nn.Linear(576, 11)
    state = theirs.double().state_dict()
    del state["3.bias"]
    state["extra.weight"] = torch.zeros(1)
    ours = models.fixed_res_cnn()
    before = {name: p.numpy() for name, p in ours.named_parameters()}
    with pytest.raises(ValueError) as info:
        ours.load_state_dict(state)
    message = str(info.value)
    assert "Sequential" in message
    assert "missing '3.bias'" in message and "unexpected 'extra.weight'" in message
    assert "'0.weight': expected (16, 1, 3, 3) float32, got (16, 1, 3, 3) float64" in message
    assert "'10.weight': expected (10, 576) float32, got (11, 576) float64" in message
    for name, p in ours.named_parameters():
        np.testing.assert_array_equal(p.numpy(), before[name], err_msg=name)
