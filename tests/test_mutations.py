"""Mutation tests: plant a known bug in the engine and check that the checks catch it.

A check that never fails proves nothing. Each mutant below is a realistic mistake,
planted with ``unittest.mock.patch.object`` for the duration of one test (test-only
patching; the engine never patches itself):

    mul-sign         Mul.backward returns −(the right gradients)
    exp-sign         Exp.backward returns −(the right gradient)
    add-unbroadcast  Add.backward hands grad_out to both inputs without summing it
                     back over broadcast axes
    fold-assign      conv's col2im assigns overlapping patch entries instead of adding
                     them (conv2d's backward, and fold itself)
    grad-alias       a leaf keeps the first gradient that reaches it as its .grad
                     instead of a copy: the caller's seed, or an array an op handed
                     to several inputs, then changes under the next += (the
                     accumulation in autograd._accumulate)
    rectifier-kink   Rectifier takes its mask from x ≥ 0: the gradient passes at x = 0
    affine-bias-rows Affine sums the bias gradient over the first dim only, not over
                     every leading dim of a (*, in) input
    maxpool-last     max pooling's window scan (_window_max) compares with ≥ instead
                     of >: a tie goes to the last maximum in the window, not the first
    adam-no-bias     Adam without bias correction

Each is caught twice: by the public checkers (``gradcheck`` / ``compare_with_torch``
raise AssertionError, with the unmutated code passing the very same check first) and
by the project's own property tests, imported from the other test modules and run
with few examples and no shrinking. Every check runs on 'cpu' and on 'gpu' (CuPy or
its stand-in).

Mutants that change a line of the engine are made from its source (``mutated``):
if the engine is rewritten so that the line is gone, the test says so and the
mutant needs updating.
"""
import importlib
import inspect
import textwrap
from contextlib import contextmanager
from unittest.mock import patch

import numpy as np
import pytest
import test_conv
import test_nn_optim
import test_ops_basic
import test_pool
import test_tensor
import torch
import torch.nn.functional as TF
from helpers import DEVICES, on
from hypothesis import Phase, settings

import minigrad.functional as F
from minigrad import backend, nn, optim
from minigrad.ops import conv, elementwise, linalg, pool
from minigrad.testing import compare_with_torch, gradcheck

tape = importlib.import_module("minigrad.autograd")  # the tape: Function and backward


# ----- making mutants --------------------------------------------------------------------------

def mutated(function, old, new):
    """A copy of ``function`` with ``old`` replaced by ``new`` in its source, compiled
    against the function's own module globals (the module itself is left unchanged)."""
    source = textwrap.dedent(inspect.getsource(function))
    assert old in source, (f"mutation site {old!r} is gone from {function.__qualname__}; "
                           "update the mutant in tests/test_mutations.py")
    namespace = {}
    code = compile(source.replace(old, new), f"<mutant of {function.__qualname__}>", "exec")
    exec(code, function.__globals__, namespace)
    return namespace[function.__name__]


def negated(backward):
    """A backward that returns every gradient with its sign flipped."""
    def wrong_sign(self, grad_out):
        return tuple(None if grad is None else -grad for grad in backward(self, grad_out))
    return wrong_sign


def without_unbroadcast(self, grad_out):
    """Add.backward that forgets to sum the gradient back to each input's shape."""
    return grad_out, grad_out


MUTANTS = {  # name: (owner, attribute, original → mutant)
    "mul-sign": (elementwise.Mul, "backward", negated),
    "exp-sign": (elementwise.Exp, "backward", negated),
    "add-unbroadcast": (elementwise.Add, "backward", lambda original: without_unbroadcast),
    "fold-assign": (conv, "col2im", lambda f: mutated(f, " += ", " = ")),
    "grad-alias": (tape, "_accumulate", lambda f: mutated(f, "grad.copy()", "grad")),
    "rectifier-kink": (elementwise.Rectifier, "forward",
                       lambda f: mutated(f, "y != 0", "x >= 0")),
    "affine-bias-rows": (linalg.Affine, "backward", lambda f: mutated(
        f, "grad_bias = grad_rows.sum(axis=0)", "grad_bias = grad_out.sum(axis=0)")),
    "maxpool-last": (pool, "_window_max", lambda f: mutated(f, " > ", " >= ")),
    "adam-no-bias": (optim.Adam, "step", lambda f: mutated(
        f, 't, m, v = state["step"], ', 't, m, v = state["step"] + 10**9, ')),
}


@contextmanager
def planted(name):
    owner, attribute, make = MUTANTS[name]
    with patch.object(owner, attribute, make(getattr(owner, attribute))):
        yield


# ----- the public checkers ---------------------------------------------------------------------

def _uniform(shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def _tied(shape, seed=0):
    """Few distinct values, so most pooling windows hold a tie."""
    return np.random.default_rng(seed).integers(0, 3, size=shape).astype(np.float64)


def _conv(stride):
    """conv2d with a 3×3 kernel and padding 1; with stride ≤ 2 neighbouring patches overlap."""
    return (lambda x, w, b: F.conv2d(x, w, b, stride, 1),
            lambda x, w, b: TF.conv2d(x, w, b, stride, 1))


CONV_INPUTS = (_uniform((2, 2, 6, 5)), _uniform((3, 2, 3, 3), 1), _uniform((3,), 2))
LINEAR_INPUTS = (_uniform((2, 3, 4)), _uniform((5, 4), 1), _uniform((5,), 2))  # x (*, in)


def gradchecked(fn, *arrays):
    def check(device):
        return gradcheck(fn, *[on(device, a) for a in arrays])
    return check


def compared(fn, torch_fn, *arrays):
    def check(device):
        return compare_with_torch(fn, torch_fn, *arrays, device=device)
    return check


def adam_three_steps_match_torch(device):
    rng = np.random.default_rng(0)
    start, grads = rng.standard_normal((3, 4)), [rng.standard_normal((3, 4)) for _ in range(3)]
    ours = nn.Parameter(backend.to_device(start.copy(), device))
    theirs = torch.nn.Parameter(torch.tensor(start))
    ours_opt, torch_opt = optim.Adam([ours], lr=0.1), torch.optim.Adam([theirs], lr=0.1)
    for step, grad in enumerate(grads, start=1):
        ours.grad, theirs.grad = backend.to_device(grad.copy(), device), torch.tensor(grad)
        ours_opt.step()
        torch_opt.step()
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"Adam differs from torch.optim.Adam after step {step}")
    return True


PUBLIC_CHECKS = {  # (mutant, checker): check(device), passing on the real engine
    ("mul-sign", "gradcheck"): gradchecked(F.mul, _uniform((2, 3)), _uniform((3,), 1)),
    ("mul-sign", "compare_with_torch"): compared(F.mul, torch.mul, _uniform((2, 3)), _uniform((3,), 1)),
    ("exp-sign", "gradcheck"): gradchecked(F.exp, _uniform((2, 3))),
    ("exp-sign", "compare_with_torch"): compared(F.exp, torch.exp, _uniform((2, 3))),
    ("add-unbroadcast", "gradcheck"): gradchecked(F.add, _uniform((2, 3)), _uniform((3,), 1)),
    ("add-unbroadcast", "compare_with_torch"): compared(F.add, torch.add, _uniform((2, 1)),
                                                        _uniform((3,), 1)),
    ("fold-assign", "gradcheck"): gradchecked(_conv(2)[0], *CONV_INPUTS),
    ("fold-assign", "compare_with_torch"): compared(*_conv(2), *CONV_INPUTS),
    ("fold-assign", "compare_with_torch on fold"): compared(
        lambda u: F.fold(u, (5, 4), 3, 1, 1), lambda u: TF.fold(u, (5, 4), 3, padding=1),
        _uniform((1, 9, 20))),
    ("grad-alias", "gradcheck"): gradchecked(F.add, _uniform((2, 3)), _uniform((2, 3), 1)),
    ("grad-alias", "compare_with_torch"): compared(F.add, torch.add, _uniform((2, 3)),
                                                   _uniform((2, 3), 1)),
    ("rectifier-kink", "compare_with_torch"): compared(F.relu, torch.relu,
                                                       np.array([-1.0, 0.0, 2.0, 0.0])),
    ("affine-bias-rows", "gradcheck"): gradchecked(F.linear, *LINEAR_INPUTS),
    ("affine-bias-rows", "compare_with_torch"): compared(F.linear, TF.linear, *LINEAR_INPUTS),
    ("maxpool-last", "compare_with_torch"): compared(
        lambda x: F.max_pool2d(x, 3, 1), lambda x: TF.max_pool2d(x, 3, 1), _tied((2, 2, 6, 7))),
    ("maxpool-last", "compare_with_torch, 2×2"): compared(
        lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), _tied((2, 2, 6, 7))),
    ("adam-no-bias", "3 steps against torch.optim.Adam"): adam_three_steps_match_torch,
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mutant, checker", sorted(PUBLIC_CHECKS),
                         ids=[f"{mutant}-{checker}" for mutant, checker in sorted(PUBLIC_CHECKS)])
def test_the_public_checkers_catch_the_mutant(mutant, checker, device):
    check = PUBLIC_CHECKS[mutant, checker]
    assert check(device)                      # the real engine passes ...
    with planted(mutant), pytest.raises(AssertionError):
        check(device)                         # ... the mutant does not


@pytest.mark.parametrize("kernel, stride", [(3, 1), (2, 2)])
def test_tie_mutants_are_invisible_without_ties(kernel, stride):
    """Off ties, 'first maximum' and 'last maximum' are the same function, and at a tie
    max is not differentiable, so finite differences cannot say which element should
    win (they give each tied element half). Only a comparison with PyTorch on tied
    inputs — compare_with_torch, or the tie tests in test_pool — has teeth here."""
    x = np.random.default_rng(0).permutation(84).reshape(2, 2, 3, 7) / 10.0
    with planted("maxpool-last"):
        assert gradcheck(lambda t: F.max_pool2d(t, kernel, stride), x)
        assert compare_with_torch(lambda t: F.max_pool2d(t, kernel, stride),
                                  lambda t: TF.max_pool2d(t, kernel, stride), x)


def test_the_kink_mutant_is_invisible_off_the_kink():
    """Away from 0 both conventions for relu's gradient agree, and at 0 relu has no
    derivative for finite differences to measure; only inputs that are exactly 0,
    compared with PyTorch, pin the convention."""
    x = np.array([-1.5, -0.2, 0.3, 2.0])
    with planted("rectifier-kink"):
        assert gradcheck(F.relu, x)
        assert compare_with_torch(F.relu, torch.relu, x)


# ----- the project's own property tests --------------------------------------------------------

def run_quickly(test, **arguments):
    """Run a test from another module. A hypothesis test runs with at most 25 examples,
    no shrinking and no example database (its settings are swapped for this call only)."""
    if not hasattr(test, "hypothesis"):
        return test(**arguments)
    quick = settings(test._hypothesis_internal_use_settings, max_examples=25, database=None,
                     deadline=None, report_multiple_bugs=False,
                     phases=[Phase.explicit, Phase.generate])
    with patch.object(test, "_hypothesis_internal_use_settings", quick):
        return test(**arguments)


PROPERTY_TESTS = [  # (mutant, test, its other arguments)
    ("mul-sign", test_ops_basic.test_binary_ops_broadcast, dict(op="mul")),
    ("exp-sign", test_ops_basic.test_exp, {}),
    ("add-unbroadcast", test_ops_basic.test_binary_ops_broadcast, dict(op="add")),
    ("fold-assign", test_conv.test_conv2d_gradients_match_finite_differences, {}),
    ("fold-assign", test_conv.test_fold_matches_torch, {}),
    ("grad-alias", test_tensor.test_leaf_gradients_never_share_an_array, {}),
    ("rectifier-kink", test_ops_basic.test_relu_passes_nan_and_infinities_as_torch, {}),
    ("affine-bias-rows", test_ops_basic.test_linear, {}),
    ("maxpool-last", test_pool.test_max_pool2d_ties_match_torch, dict(kernel=3, stride=1)),
    ("maxpool-last", test_pool.test_max_pool2d_tie_sends_the_gradient_to_the_first_maximum,
     dict(kernel=3)),
    ("adam-no-bias", test_nn_optim.test_optimizer_matches_torch_step_for_step,
     dict(name="adam", dtype=np.float64)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mutant, test, arguments", PROPERTY_TESTS,
                         ids=[f"{mutant}-{test.__name__}" for mutant, test, _ in PROPERTY_TESTS])
def test_the_projects_property_tests_catch_the_mutant(mutant, test, arguments, device):
    with planted(mutant), pytest.raises(AssertionError):
        run_quickly(test, device=device, **arguments)
