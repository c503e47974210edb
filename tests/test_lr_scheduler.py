"""Learning-rate schedulers against torch.optim.lr_scheduler: the rates (and
OneCycleLR's momentum) at every step, what the optimizer then does with
them, saving and resuming, and the argument checks."""
import json
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minigrad import nn, optim
from minigrad.optim import lr_scheduler

RTOL = 1e-12  # PyTorch computes StepLR and CosineAnnealingLR recursively, minigrad in closed form


def optimizers(kind, groups=1, lr=0.1):
    """The same optimizer in minigrad and in PyTorch, with ``groups`` parameter groups."""
    ours = [nn.Parameter(np.zeros(3)) for _ in range(groups)]
    theirs = [torch.nn.Parameter(torch.zeros(3, dtype=torch.float64)) for _ in range(groups)]
    if kind == "adam":
        return (optim.Adam([{"params": [p]} for p in ours], lr=lr),
                torch.optim.Adam([{"params": [p]} for p in theirs], lr=lr))
    return (optim.SGD([{"params": [p]} for p in ours], lr=lr, momentum=0.9),
            torch.optim.SGD([{"params": [p]} for p in theirs], lr=lr, momentum=0.9))


def momentum(optimizer):
    group = optimizer.param_groups[0]
    return group["betas"][0] if "betas" in group else group["momentum"]


def assert_same_schedule(make_ours, make_torch, steps, kind="adam", groups=1):
    """Step both schedulers ``steps`` times; the rates of every group and the
    momentum must agree at every step, before and after each step."""
    ours_opt, torch_opt = optimizers(kind, groups)
    ours, theirs = make_ours(ours_opt), make_torch(torch_opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns when no optimizer.step() came first
        for step in range(steps + 1):
            np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=RTOL,
                                       atol=1e-300, err_msg=f"step {step}")
            assert [g["lr"] for g in ours_opt.param_groups] == ours.get_last_lr()
            assert momentum(ours_opt) == pytest.approx(momentum(torch_opt), rel=RTOL)
            if step < steps:
                ours.step()
                theirs.step()
    assert ours.last_epoch == theirs.last_epoch == steps


@given(step_size=st.integers(1, 40), gamma=st.floats(0.05, 1.0))
def test_step_lr_matches_torch(step_size, gamma):
    assert_same_schedule(lambda o: lr_scheduler.StepLR(o, step_size, gamma),
                         lambda t: torch.optim.lr_scheduler.StepLR(t, step_size, gamma), 300)


@given(t_max=st.integers(1, 200), eta_min=st.sampled_from([0.0, 1e-4, 0.05]))
def test_cosine_annealing_lr_matches_torch_also_past_t_max(t_max, eta_min):
    assert_same_schedule(lambda o: lr_scheduler.CosineAnnealingLR(o, t_max, eta_min),
                         lambda t: torch.optim.lr_scheduler.CosineAnnealingLR(t, t_max, eta_min),
                         3 * t_max + 5)


one_cycle_arguments = st.fixed_dictionaries({
    "pct_start": st.floats(0.01, 0.6),
    "anneal_strategy": st.sampled_from(["cos", "linear"]),
    "three_phase": st.booleans(),
    "cycle_momentum": st.booleans(),
    "div_factor": st.sampled_from([25.0, 10.0, 1e3]),
    "final_div_factor": st.sampled_from([1e4, 100.0]),
})


@given(total_steps=st.integers(20, 400), arguments=one_cycle_arguments,
       kind=st.sampled_from(["adam", "sgd"]))
def test_one_cycle_lr_matches_torch_to_the_last_step(total_steps, arguments, kind):
    assert_same_schedule(
        lambda o: lr_scheduler.OneCycleLR(o, 0.3, total_steps=total_steps, **arguments),
        lambda t: torch.optim.lr_scheduler.OneCycleLR(t, 0.3, total_steps=total_steps,
                                                      **arguments),
        total_steps, kind)


def test_one_cycle_lr_takes_one_peak_per_group_and_epochs_times_steps():
    assert_same_schedule(
        lambda o: lr_scheduler.OneCycleLR(o, [0.3, 0.01], epochs=3, steps_per_epoch=7),
        lambda t: torch.optim.lr_scheduler.OneCycleLR(t, [0.3, 0.01], epochs=3,
                                                      steps_per_epoch=7), 21, groups=2)


def test_one_cycle_lr_of_the_training_command_warms_up_then_anneals():
    """train_mnist.py's setting: 3% of the steps up from lr/25, then down to lr/250,000."""
    ours_opt, _ = optimizers("adam")
    scheduler = lr_scheduler.OneCycleLR(ours_opt, 3e-3, total_steps=1000, pct_start=0.03,
                                        cycle_momentum=False)
    rates = [scheduler.get_last_lr()[0]]
    for _ in range(999):
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    assert rates[0] == pytest.approx(3e-3 / 25)
    assert max(rates) == pytest.approx(3e-3) and rates.index(max(rates)) == 29
    assert all(a < b for a, b in zip(rates[:29], rates[1:30]))
    assert all(a > b for a, b in zip(rates[29:], rates[30:]))
    assert rates[-1] == pytest.approx(3e-3 / 25 / 1e4)
    assert ours_opt.param_groups[0]["betas"] == (0.9, 0.999)  # momentum not cycled


def test_the_optimizer_steps_with_the_scheduled_rates_as_in_torch():
    """Adam under OneCycleLR (rates and β₁ cycled) moves the weights as PyTorch does."""
    rng = np.random.default_rng(0)
    gradients = rng.standard_normal((60, 3))
    ours_opt, torch_opt = optimizers("adam")
    ours = lr_scheduler.OneCycleLR(ours_opt, 0.2, total_steps=60, three_phase=True)
    theirs = torch.optim.lr_scheduler.OneCycleLR(torch_opt, 0.2, total_steps=60, three_phase=True)
    p, q = ours_opt.param_groups[0]["params"][0], torch_opt.param_groups[0]["params"][0]
    for gradient in gradients:
        p.grad, q.grad = gradient.copy(), torch.from_numpy(gradient.copy())
        ours_opt.step()
        torch_opt.step()
        ours.step()
        theirs.step()
    np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.StepLR(o, 5, 0.5),
    lambda o: lr_scheduler.CosineAnnealingLR(o, 30, 1e-4),
    lambda o: lr_scheduler.OneCycleLR(o, 0.3, total_steps=40, three_phase=True),
], ids=["step", "cosine", "one-cycle"])
def test_a_restored_scheduler_continues_exactly(make):
    """Save optimizer and scheduler after 13 steps (the scheduler's state through
    JSON), restore both into new objects built with other settings: the rates
    continue as without the interruption."""
    straight_opt, _ = optimizers("sgd")
    straight = make(straight_opt)
    first_opt, _ = optimizers("sgd")
    first = make(first_opt)
    for _ in range(13):
        straight.step()
        first.step()
    saved_optimizer, saved = first_opt.state_dict(), json.loads(json.dumps(first.state_dict()))
    resumed_opt, _ = optimizers("sgd", lr=7.0)
    resumed = make(resumed_opt)
    resumed_opt.load_state_dict(saved_optimizer)
    resumed.load_state_dict(saved)
    for _ in range(20):
        assert resumed.get_last_lr() == straight.get_last_lr()
        assert resumed_opt.param_groups[0]["lr"] == straight_opt.param_groups[0]["lr"]
        straight.step()
        resumed.step()


def test_resuming_with_last_epoch_needs_the_restored_initial_lr():
    fresh, _ = optimizers("sgd")
    with pytest.raises(KeyError, match=r"'initial_lr' is not specified in param_groups\[0\]"):
        lr_scheduler.StepLR(fresh, 5, last_epoch=9)
    used, _ = optimizers("sgd")
    scheduler = lr_scheduler.StepLR(used, 5, 0.5)
    for _ in range(9):
        scheduler.step()
    restored, _ = optimizers("sgd")
    restored.load_state_dict(used.state_dict())
    continued = lr_scheduler.StepLR(restored, 5, 0.5, last_epoch=9)
    assert continued.last_epoch == 10
    scheduler.step()
    assert continued.get_last_lr() == scheduler.get_last_lr() == [0.1 * 0.25]


def test_get_last_lr_is_a_copy():
    opt, _ = optimizers("sgd")
    scheduler = lr_scheduler.StepLR(opt, 5)
    scheduler.get_last_lr()[0] = 99.0
    assert scheduler.get_last_lr() == [0.1]


class Momentumless(optim.Optimizer):
    def __init__(self, params):
        super().__init__(params, {"lr": 0.1})


@pytest.mark.parametrize("make, error, message", [
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1), ValueError, "either total_steps OR"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=0), ValueError,
     "total_steps must be a positive integer, got 0"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, epochs=2, steps_per_epoch=2.5), ValueError,
     "steps_per_epoch must be a positive integer"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.5), ValueError,
     "Expected float between 0 and 1 pct_start, but got 1.5"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=10, anneal_strategy="cosine"),
     ValueError, "anneal_strategy must be one of 'cos' or 'linear', instead got cosine"),
    (lambda o: lr_scheduler.OneCycleLR(o, [0.1, 0.2], total_steps=10), ValueError,
     "expected 1 values for max_lr, got 2"),
    (lambda o: lr_scheduler.StepLR(o, 0), ValueError, "StepLR: step_size must be a positive"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, 2.5), ValueError,
     "CosineAnnealingLR: T_max must be a positive integer, got 2.5"),
    (lambda o: lr_scheduler.StepLR(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))]), 3),
     TypeError, "SGD is not an Optimizer"),
], ids=["no-length", "zero-steps", "float-steps", "pct-start", "anneal", "max-lr-per-group",
        "step-size", "t-max", "not-ours"])
def test_bad_scheduler_arguments_are_named(make, error, message):
    opt, _ = optimizers("sgd")
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        make(opt)


def test_one_cycle_lr_refuses_to_cycle_a_missing_momentum_and_to_step_past_its_end():
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        lr_scheduler.OneCycleLR(Momentumless([nn.Parameter(np.ones(1))]), 0.1, total_steps=5)
    opt, _ = optimizers("sgd")
    scheduler = lr_scheduler.OneCycleLR(opt, 0.1, total_steps=5)
    for _ in range(5):
        scheduler.step()
    with pytest.raises(ValueError, match="Tried to step 6 times. The specified number of total "
                                         "steps is 5"):
        scheduler.step()


@given(gamma=st.floats(0.5, 1.0), milestones=st.lists(st.integers(1, 60), max_size=4))
def test_exponential_and_multistep_lr_match_torch(gamma, milestones):
    assert_same_schedule(lambda o: lr_scheduler.ExponentialLR(o, gamma),
                         lambda t: torch.optim.lr_scheduler.ExponentialLR(t, gamma), 80)
    assert_same_schedule(lambda o: lr_scheduler.MultiStepLR(o, milestones, gamma),
                         lambda t: torch.optim.lr_scheduler.MultiStepLR(t, milestones, gamma), 80)


def test_lambda_lr_matches_torch_with_one_function_per_group():
    functions = [lambda epoch: 0.9 ** epoch, lambda epoch: 1 / (1 + epoch)]
    assert_same_schedule(lambda o: lr_scheduler.LambdaLR(o, functions),
                         lambda t: torch.optim.lr_scheduler.LambdaLR(t, functions), 30, groups=2)


@pytest.mark.parametrize("options", [dict(), dict(mode="max", factor=0.5, patience=2),
                                     dict(threshold_mode="abs", threshold=0.1, cooldown=2,
                                          min_lr=0.02, patience=1)])
@given(metrics=st.lists(st.floats(0, 10), min_size=1, max_size=60))
def test_reduce_lr_on_plateau_matches_torch(options, metrics):
    ours_opt, torch_opt = optimizers("sgd", groups=2)
    ours = lr_scheduler.ReduceLROnPlateau(ours_opt, **options)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_opt, **options)
    for metric in metrics:
        ours.step(metric)
        theirs.step(metric)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
        assert [g["lr"] for g in ours_opt.param_groups] == ours.get_last_lr()
