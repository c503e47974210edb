"""Modules and optimizers: the Module API, initialisation, state dicts that
PyTorch can read and write, and SGD / Adam step for step against torch.optim."""
import math

import numpy as np
import pytest
import torch
from helpers import DEVICES, host, on

import minigrad
import minigrad.functional as F
from minigrad import backend, nn, optim
from minigrad.checkpoint import load, save


def small_net():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 3 * 3, 5))


def small_torch_net():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(36, 5))


class TwoPart(nn.Module):
    """A user-defined module holding a Sequential, a layer and a bare Parameter."""

    def __init__(self):
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.head = nn.Linear(2, 3)

    def forward(self, x):
        return self.head(F.global_avg_pool2d(self.features(x))) * self.scale


# ----- the Module API ------------------------------------------------------------------------

def test_sequential_names_parameters_like_pytorch():
    model, reference = small_net(), small_torch_net()
    names = [name for name, _ in model.named_parameters()]
    assert names == [name for name, _ in reference.named_parameters()]
    assert names == ["0.weight", "0.bias", "4.weight", "4.bias"]
    assert [p.shape for p in model.parameters()] == [(4, 1, 3, 3), (4,), (5, 36), (5,)]
    assert model.parameters()[0] is model[0].weight and model.parameters()[3] is model[4].bias
    assert len(model) == 5


def test_nested_modules_name_parameters_with_dots_in_assignment_order():
    names = [name for name, _ in TwoPart().named_parameters()]
    assert names == ["features.0.weight", "features.0.bias", "scale", "head.weight", "head.bias"]


def test_every_parameter_requires_grad():
    assert all(p.requires_grad for p in TwoPart().parameters())


@pytest.mark.parametrize("device", DEVICES)
def test_zero_grad_forgets_every_gradient(device):
    model = TwoPart().to(device)
    model(on(device, np.ones((2, 1, 4, 4), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_and_eval_reach_every_submodule():
    model = TwoPart()
    modules = [model, model.features, model.features[0], model.features[1], model.head]
    assert all(m.training for m in modules)
    assert model.eval() is model
    assert not any(m.training for m in modules)
    model.train()
    assert all(m.training for m in modules)


def test_repr_reads_like_the_architecture():
    text = repr(small_net())
    assert text.startswith("Sequential(")
    assert "(0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))" in text
    assert "(1): ReLU()" in text
    assert "(2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)" in text
    assert "(4): Linear(in_features=36, out_features=5, bias=True)" in text
    assert text == repr(small_torch_net())
    nested = repr(TwoPart())
    assert "(features): Sequential(\n    (0): Conv2d(1, 2" in nested


def test_to_gpu_and_back_moves_parameters_and_gradients_and_keeps_values():
    model = small_net()
    before = model.state_dict()
    assert model.to("gpu") is model
    assert all(p.device == "gpu" for p in model.parameters())
    x = on("gpu", np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32))
    model(x).sum().backward()
    grads = [host(p.grad) for p in model.parameters()]
    model.to("cpu")
    assert all(p.device == "cpu" and backend.device_of(p.grad) == "cpu" for p in model.parameters())
    for (name, value), grad, p in zip(before.items(), grads, model.parameters()):
        np.testing.assert_array_equal(p.numpy(), value, err_msg=name)
        np.testing.assert_array_equal(p.grad, grad, err_msg=name)


# ----- initialisation ------------------------------------------------------------------------

@pytest.mark.parametrize("make, fan_in", [(lambda: nn.Conv2d(3, 64, 5), 75),
                                           (lambda: nn.Conv2d(16, 32, 3), 144),
                                           (lambda: nn.Linear(576, 100), 576)],
                         ids=["conv-3-64-5", "conv-16-32-3", "linear-576-100"])
def test_init_is_uniform_within_one_over_sqrt_fan_in(make, fan_in):
    minigrad.manual_seed(0)
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    for p in (layer.weight, layer.bias):
        assert p.dtype == np.float32
        assert np.abs(p.numpy()).max() <= bound
    weights = layer.weight.numpy().ravel()  # thousands of draws: the shape of a uniform shows
    assert np.abs(weights).max() > 0.98 * bound
    assert abs(weights.mean()) < 0.05 * bound
    assert abs(weights.std() - bound / math.sqrt(3)) < 0.05 * bound


def test_manual_seed_makes_initialisation_reproducible():
    minigrad.manual_seed(123)
    first = small_net().state_dict()
    minigrad.manual_seed(123)
    second = small_net().state_dict()
    minigrad.manual_seed(124)
    third = small_net().state_dict()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
        assert not np.array_equal(first[name], third[name])


def test_cpu_and_gpu_models_start_from_the_same_weights():
    minigrad.manual_seed(5)
    on_cpu = small_net()
    minigrad.manual_seed(5)
    on_gpu = small_net().to("gpu")
    for (name, a), b in zip(on_cpu.state_dict().items(), on_gpu.parameters()):
        np.testing.assert_array_equal(a, host(b), err_msg=name)


# ----- state dicts, in both directions with PyTorch ------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_a_torch_state_dict_loads_unchanged_and_outputs_match(device):
    torch.manual_seed(0)
    reference = small_torch_net()
    state = {name: value.detach().numpy() for name, value in reference.state_dict().items()}
    model = small_net().to(device)
    model.load_state_dict(state)
    loaded = model.state_dict()
    assert list(loaded) == list(state)
    for name in state:
        np.testing.assert_array_equal(loaded[name], state[name], err_msg=name)
    assert all(p.device == device for p in model.parameters())
    x = np.random.default_rng(1).standard_normal((3, 1, 6, 6)).astype(np.float32)
    expected = reference(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(host(model(on(device, x))), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_our_state_dict_loads_into_torch_and_outputs_match(device):
    minigrad.manual_seed(3)
    model = small_net().to(device)
    reference = small_torch_net()
    reference.load_state_dict({name: torch.from_numpy(value)
                               for name, value in model.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((3, 1, 6, 6)).astype(np.float32)
    expected = reference(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(host(model(on(device, x))), expected, rtol=1e-5, atol=1e-6)


def test_state_dict_holds_host_copies():
    model = small_net()
    state = model.state_dict()
    state["0.bias"][:] = 42.0
    assert not np.any(model[0].bias.numpy() == 42.0)
    assert all(isinstance(v, np.ndarray) for v in small_net().to("gpu").state_dict().values())


def _state():
    return {name: value.copy() for name, value in small_net().state_dict().items()}


@pytest.mark.parametrize("change, names", [
    (lambda s: s.pop("4.bias"), ["missing", "'4.bias'"]),
    (lambda s: s.update({"5.weight": np.zeros(3, np.float32)}), ["unexpected", "'5.weight'"]),
    (lambda s: s.update({"0.weight": np.zeros((4, 1, 5, 5), np.float32)}),
     ["'0.weight'", "(4, 1, 3, 3)", "(4, 1, 5, 5)"]),
    (lambda s: s.update({"4.weight": s["4.weight"].astype(np.float64)}),
     ["'4.weight'", "float32", "float64"]),
], ids=["missing", "unexpected", "shape", "dtype"])
def test_load_state_dict_names_what_is_wrong_and_changes_nothing(change, names):
    model = small_net()
    before = model.state_dict()
    state = _state()
    change(state)
    with pytest.raises(ValueError) as error:
        model.load_state_dict(state)
    for name in names:
        assert name in str(error.value)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_load_state_dict_reports_every_problem_at_once():
    state = _state()
    state.pop("0.weight")
    state["extra"] = np.zeros(1, np.float32)
    with pytest.raises(ValueError, match=r"missing '0\.weight'.*unexpected 'extra'"):
        small_net().load_state_dict(state)


# ----- optimizers against torch.optim --------------------------------------------------------

SHAPES = [(3, 4), (5,), (2, 3, 2)]
OPTIMIZERS = {
    "adam": (optim.Adam, torch.optim.Adam, dict(lr=1e-2)),
    "adam-wd-betas": (optim.Adam, torch.optim.Adam,
                      dict(lr=3e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    "adam-decoupled": (optim.Adam, torch.optim.Adam,
                       dict(lr=3e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    "adamw": (optim.AdamW, torch.optim.AdamW, dict(lr=1e-2)),
    "adamw-wd-betas": (optim.AdamW, torch.optim.AdamW,
                       dict(lr=3e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.3)),
    "sgd": (optim.SGD, torch.optim.SGD, dict(lr=0.1)),
    "sgd-wd": (optim.SGD, torch.optim.SGD, dict(lr=0.1, weight_decay=0.05)),
    "sgd-momentum": (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    "sgd-momentum-wd": (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    "sgd-nesterov": (optim.SGD, torch.optim.SGD,
                     dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "sgd-dampening": (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3)),
    "rmsprop": (optim.RMSprop, torch.optim.RMSprop, dict(lr=1e-2)),
    "rmsprop-all": (optim.RMSprop, torch.optim.RMSprop,
                    dict(lr=1e-2, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.5,
                         centered=True)),
    "adadelta": (optim.Adadelta, torch.optim.Adadelta, dict(lr=1.0)),
    "adadelta-wd": (optim.Adadelta, torch.optim.Adadelta,
                    dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
}
TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-13), np.float32: dict(rtol=1e-6, atol=1e-7)}


def _gradient_sequence(steps, dtype, seed=0):
    """A gradient per parameter per step; parameter 1 has none at step 3 (both skip it)."""
    rng = np.random.default_rng(seed)
    sequence = [[(rng.standard_normal(s) * 10.0 ** rng.integers(-3, 1)).astype(dtype)
                 for s in SHAPES] for _ in range(steps)]
    if steps > 3:
        sequence[3][1] = None
    return sequence


def _initial(dtype, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _step_ours(optimizer, params, grads, device):
    for p, g in zip(params, grads):
        p.grad = None if g is None else backend.to_device(g.copy(), device)
    optimizer.step()


def _step_torch(optimizer, params, grads):
    for p, g in zip(params, grads):
        p.grad = None if g is None else torch.from_numpy(g.copy())
    optimizer.step()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_matches_torch_step_for_step(device, dtype, name):
    ours_cls, torch_cls, hyper = OPTIMIZERS[name]
    initial = _initial(dtype)
    ours = [nn.Parameter(backend.to_device(w.copy(), device)) for w in initial]
    theirs = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in initial]
    ours_opt, torch_opt = ours_cls(ours, **hyper), torch_cls(theirs, **hyper)
    for step, grads in enumerate(_gradient_sequence(10, dtype)):
        before = [p.numpy() for p in ours]
        _step_ours(ours_opt, ours, grads, device)
        _step_torch(torch_opt, theirs, grads)
        for i, (mine, reference) in enumerate(zip(ours, theirs)):
            assert mine.dtype == dtype and mine.device == device
            np.testing.assert_allclose(mine.numpy(), reference.detach().numpy(), **TOLERANCE[dtype],
                                       err_msg=f"{name}: parameter {i} after step {step + 1}")
            # A step moves exactly the parameters that have a gradient (both skip the others).
            assert np.array_equal(mine.numpy(), before[i]) == (grads[i] is None), (name, step, i)


def test_parameter_groups_have_their_own_hyper_parameters_as_in_torch():
    initial = _initial(np.float64)
    ours = [nn.Parameter(w.copy()) for w in initial]
    theirs = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in initial]
    ours_opt = optim.Adam([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.1, "eps": 1e-3}],
                          lr=1e-2)
    torch_opt = torch.optim.Adam([{"params": theirs[:2]},
                                  {"params": theirs[2:], "lr": 0.1, "eps": 1e-3}], lr=1e-2)
    assert [group["lr"] for group in ours_opt.param_groups] == [1e-2, 0.1]
    assert ours_opt.param_groups[1]["betas"] == (0.9, 0.999)  # from the defaults
    for grads in _gradient_sequence(5, np.float64):
        _step_ours(ours_opt, ours, grads, "cpu")
        _step_torch(torch_opt, theirs, grads)
    for i, (mine, reference) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(mine.numpy(), reference.detach().numpy(), rtol=1e-12,
                                   err_msg=f"parameter {i}")


def test_a_learning_rate_written_into_a_group_applies_at_the_next_step():
    ours = [nn.Parameter(w) for w in _initial(np.float64)]
    theirs = [torch.nn.Parameter(torch.from_numpy(w)) for w in _initial(np.float64)]
    ours_opt, torch_opt = optim.SGD(ours, lr=0.1, momentum=0.9), torch.optim.SGD(theirs, lr=0.1,
                                                                                   momentum=0.9)
    for step, grads in enumerate(_gradient_sequence(4, np.float64)):
        ours_opt.param_groups[0]["lr"] = torch_opt.param_groups[0]["lr"] = 0.1 / (step + 1)
        _step_ours(ours_opt, ours, grads, "cpu")
        _step_torch(torch_opt, theirs, grads)
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine.numpy(), reference.detach().numpy(), rtol=1e-12)


def _groups_without_params(optimizer):
    return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_state_dict_round_trip_continues_exactly(device, name, tmp_path):
    """Five steps, save, restore into a fresh optimizer (built with other
    hyper-parameters, which the state overrides), five more steps: the same
    parameters, bit for bit, as ten uninterrupted steps."""
    ours_cls, _, hyper = OPTIMIZERS[name]
    grads = _gradient_sequence(10, np.float32)

    straight = [nn.Parameter(backend.to_device(w, device)) for w in _initial(np.float32)]
    straight_opt = ours_cls(straight, **hyper)
    for g in grads:
        _step_ours(straight_opt, straight, g, device)

    first = [nn.Parameter(backend.to_device(w, device)) for w in _initial(np.float32)]
    first_opt = ours_cls(first, **hyper)
    for g in grads[:5]:
        _step_ours(first_opt, first, g, device)
    save(first_opt.state_dict(), tmp_path / "optimizer.npz")
    saved_params = [p.numpy() for p in first]

    resumed = [nn.Parameter(backend.to_device(w, device)) for w in saved_params]
    resumed_opt = ours_cls(resumed, **{**hyper, "lr": 123.0})
    resumed_opt.load_state_dict(load(tmp_path / "optimizer.npz"))
    assert _groups_without_params(resumed_opt) == _groups_without_params(straight_opt)
    assert resumed_opt.param_groups[0]["lr"] == hyper["lr"]
    for g in grads[5:]:
        _step_ours(resumed_opt, resumed, g, device)
    for i, (a, b) in enumerate(zip(straight, resumed)):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"parameter {i}")
    assert len(resumed_opt.state) == (0 if name in ("sgd", "sgd-wd") else len(resumed))
    for p, state in resumed_opt.state.items():
        for key, value in state.items():
            if key != "step":
                assert backend.device_of(value) == device and value.dtype == p.dtype, key


def test_optimizer_state_dict_names_follow_torchs_layout():
    params = [nn.Parameter(w) for w in _initial(np.float32)]
    opt = optim.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}])
    _step_ours(opt, params, _gradient_sequence(1, np.float32)[0], "cpu")
    state = opt.state_dict()
    assert state["param_groups.1.lr"] == 0.5
    assert state["param_groups.1.params"].tolist() == [1, 2]
    assert state["state.2.step"] == 1 and state["state.2.exp_avg"].shape == SHAPES[2]
    assert all(isinstance(value, np.ndarray) for value in state.values())


def test_optimizer_load_state_dict_rejects_state_for_other_parameters():
    params = [nn.Parameter(w) for w in _initial(np.float32)]
    opt = optim.Adam(params)
    _step_ours(opt, params, _gradient_sequence(1, np.float32, seed=0)[0], "cpu")
    state = opt.state_dict()
    with pytest.raises(ValueError, match="group 0 has 3 parameters in the state, 2 here"):
        optim.Adam(params[:2]).load_state_dict(state)
    with pytest.raises(ValueError, match="parameter group 0 has 3 parameters in the state, 1 here"):
        optim.Adam([{"params": params[:1]}, {"params": params[1:]}]).load_state_dict(state)
    swapped = [nn.Parameter(w) for w in reversed(_initial(np.float32))]
    with pytest.raises(ValueError, match=r"state\.0\.exp_avg has shape \(3, 4\)"):
        optim.Adam(swapped).load_state_dict(state)
    with pytest.raises(ValueError, match="unexpected key 'steps'"):
        optim.Adam(params).load_state_dict({**state, "steps": np.zeros(3)})
    with pytest.raises(ValueError, match=r"unexpected key 'state\.3\.step' \(this optimizer "
                                         r"has 1 groups, 3 parameters\)"):
        optim.Adam(params).load_state_dict({**state, "state.3.step": np.array(1)})
    with pytest.raises(ValueError, match="group 0 has 0 parameters in the state, 3 here"):
        optim.Adam(params).load_state_dict({"param_groups.0.lr": np.array(0.1)})
    untouched = optim.Adam(swapped)
    with pytest.raises(ValueError):
        untouched.load_state_dict(state)
    assert untouched.state == {} and untouched.param_groups[0]["lr"] == 1e-3


def test_optimizer_rejects_an_empty_parameter_list_and_repeated_parameters():
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    p = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors.*ndarray"):
        optim.Adam([np.ones(2)])


BAD_ARGUMENTS = [  # (optimizer, arguments): torch raises ValueError with the same message
    ("SGD", dict(lr=-1)), ("SGD", dict(lr=0.1, momentum=-0.5)),
    ("SGD", dict(lr=0.1, weight_decay=-1e-4)),
    ("Adam", dict(lr=-1)), ("Adam", dict(lr=float("nan"))), ("Adam", dict(eps=-1e-8)),
    ("Adam", dict(betas=(2, 0.9))), ("Adam", dict(betas=(0.9, 1.0))),
    ("Adam", dict(betas=(-0.1, 0.9))), ("Adam", dict(weight_decay=-1)),
]


@pytest.mark.parametrize("name, arguments", BAD_ARGUMENTS,
                         ids=[f"{name}-{list(args.items())[-1]}" for name, args in BAD_ARGUMENTS])
def test_optimizers_check_their_arguments_with_torchs_messages(name, arguments):
    with pytest.raises(ValueError) as expected:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2))], **arguments)
    with pytest.raises(ValueError) as error:
        getattr(optim, name)([nn.Parameter(np.ones(2))], **arguments)
    assert str(error.value) == str(expected.value)
    assert str(error.value).startswith("Invalid ")


@pytest.mark.parametrize("arguments", [dict(lr=float("nan")), dict(lr=0.1, momentum=float("nan"))])
def test_sgd_refuses_nan_where_torch_lets_it_through(arguments):
    """torch.optim.SGD checks ``lr < 0``, which NaN passes; minigrad refuses NaN too."""
    with pytest.raises(ValueError, match="Invalid .*nan"):
        optim.SGD([nn.Parameter(np.ones(2))], **arguments)


def test_sgd_keeps_no_state_without_momentum():
    params = [nn.Parameter(w) for w in _initial(np.float32)]
    opt = optim.SGD(params, lr=0.1)
    _step_ours(opt, params, _gradient_sequence(1, np.float32)[0], "cpu")
    assert opt.state == {}


@pytest.mark.parametrize("device", DEVICES)
def test_layers_take_their_input_by_the_name_torch_gives_it(device):
    """``layer(input=x)``, as a PyTorch forward(input): the same as ``layer(x)``."""
    minigrad.manual_seed(0)
    x = on(device, np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32))
    for layer in [nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.AvgPool2d(2),
                  nn.AdaptiveAvgPool2d(2), nn.AdaptiveMaxPool2d(1), nn.Flatten()]:
        layer.to(device)
        np.testing.assert_array_equal(host(layer(input=x)), host(layer(x)), err_msg=repr(layer))
    linear = nn.Linear(6, 2).to(device)
    flat = F.flatten(x, 1)[:, :6]
    np.testing.assert_array_equal(host(linear(input=flat)), host(linear(flat)))


def test_nesterov_needs_momentum_and_no_dampening_as_in_torch():
    for options in (dict(momentum=0.0), dict(momentum=0.9, dampening=0.1)):
        with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero "
                                             "dampening"):
            optim.SGD(small_net().parameters(), lr=0.1, nesterov=True, **options)


def test_zero_grad_keeps_zeroed_arrays_when_not_set_to_none():
    model = small_net()
    F.cross_entropy(model(minigrad.tensor(np.ones((2, 1, 6, 6), np.float32))),
                    np.array([0, 1])).backward()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    grads = [p.grad for p in model.parameters()]
    optimizer.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.any() for p, g in zip(model.parameters(), grads))
    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())
