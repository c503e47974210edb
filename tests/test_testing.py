"""The checkers themselves: gradcheck, compare_with_torch and the hypothesis strategies.

1. Both checkers pass on every differentiable op in minigrad.functional, on both devices
   (one table of cases: op, minigrad function, PyTorch function, input makers).
2. gradcheck's failure says which input, where, both values and the shapes; it copes
   with user-defined ops, constants, labels, device arrays, and refuses what it can't check.
3. compare_with_torch flags wrong values, wrong gradients and wrong shapes, and says how
   to install PyTorch when it is missing.
4. The strategies only produce what they promise (valid geometry, no ties, no kinks,
   shapes that broadcast), and their failures shrink to a call you can paste.
5. Memory layouts: the same values stored contiguous, transposed, channel-major, batch-last, strided
   or reversed; the strategies draw them all, the checkers and ``on`` keep them on either
   device, and an op that is right only for contiguous inputs is caught.
6. The hypothesis profiles are the ones the README documents.
"""
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import DEVICES, host, on
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import minigrad.functional as F
from minigrad import Tensor, backend
from minigrad.autograd import Function
from minigrad.testing import compare_with_torch, gradcheck
from minigrad.testing import strategies as S
from minigrad.testing.layouts import LAYOUTS, copy_to, in_layout, layout_of

# ----- 1. every built-in op, through both checkers --------------------------------------------

def uniform(*shape, low=-2.0, high=2.0):
    return lambda rng: rng.uniform(low, high, size=shape)


def off_zero(*shape, margin=0.3):
    """|x| ≥ margin: away from ReLU's kink and the poles of 1/x and x^-p."""
    return lambda rng: rng.uniform(margin, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def untied(*shape):
    """Distinct values 0.05 apart: no ties for max and max-pooling."""
    return lambda rng: S.untied_array(shape, int(rng.integers(2**32)), gap=0.05)


def labels(n, classes):
    return lambda rng: rng.integers(0, classes, size=n)


BCE_TARGET = np.eye(4)[[0, 3, 1]]  # one-hot rows, a constant of the loss


WHERE_MASK = {"cpu": Tensor(np.array([[True, False, True], [False, False, True]])),
              "gpu": Tensor(np.array([[True, False, True], [False, False, True]]), device="gpu")}


def bce(x):
    return F.binary_cross_entropy_with_logits(x, Tensor(BCE_TARGET, dtype=x.dtype, device=x.device))


def torch_bce(x):
    return TF.binary_cross_entropy_with_logits(x, torch.tensor(BCE_TARGET, dtype=x.dtype))


@dataclass
class Case:
    op: str          # the name in minigrad.functional
    fn: object       # minigrad tensors → tensor
    torch_fn: object  # torch tensors → tensor
    makers: tuple    # one per input: rng → NumPy array (float: differentiated; int: labels)


CASES = {
    "add broadcast": Case("add", F.add, torch.add, (uniform(2, 3), uniform(3))),
    "sub broadcast": Case("sub", F.sub, torch.sub, (uniform(2, 1), uniform(1, 3))),
    "mul broadcast": Case("mul", F.mul, torch.mul, (uniform(4, 1, 3), uniform(2, 1))),
    "div broadcast": Case("div", F.div, torch.div, (uniform(2, 3), off_zero(2, 1))),
    "neg": Case("neg", F.neg, torch.neg, (uniform(2, 3),)),
    "pow 3": Case("pow", lambda x: F.pow(x, 3), lambda x: x ** 3, (uniform(2, 3),)),
    "pow -1.5": Case("pow", lambda x: F.pow(x, -1.5), lambda x: x ** -1.5,
                     (uniform(2, 3, low=0.5),)),
    "exp": Case("exp", F.exp, torch.exp, (uniform(2, 3),)),
    "log": Case("log", F.log, torch.log, (uniform(2, 3, low=0.3),)),
    "relu": Case("relu", F.relu, torch.relu, (off_zero(3, 4),)),
    "matmul": Case("matmul", F.matmul, torch.matmul, (uniform(2, 3), uniform(3, 4))),
    "matmul batched": Case("matmul", F.matmul, torch.matmul, (uniform(2, 1, 3, 4), uniform(3, 4, 2))),
    "sum all": Case("sum", F.sum, torch.sum, (uniform(2, 3, 2),)),
    "sum axis keepdims": Case("sum", lambda x: F.sum(x, (0, 2), keepdim=True),
                              lambda x: x.sum((0, 2), keepdim=True), (uniform(2, 3, 2),)),
    "mean axis": Case("mean", lambda x: F.mean(x, 1), lambda x: x.mean(1), (uniform(2, 3, 2),)),
    "amax all": Case("amax", F.amax, torch.amax, (untied(2, 3, 2),)),
    "max all": Case("max", F.max, torch.max, (untied(2, 3, 2),)),
    "max dim values": Case("max", lambda x: F.max(x, 1).values, lambda x: torch.max(x, 1).values,
                           (untied(3, 4),)),
    "maximum broadcast": Case("maximum", F.maximum, torch.maximum, (uniform(2, 3), uniform(3))),
    "minimum broadcast": Case("minimum", F.minimum, torch.minimum, (uniform(2, 1), uniform(1, 3))),
    "clamp": Case("clamp", lambda x: F.clamp(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5),
                  (uniform(3, 4),)),
    "max axis": Case("amax", lambda x: F.amax(x, -1), lambda x: x.amax(-1), (untied(3, 4),)),
    "reshape": Case("reshape", lambda x: F.reshape(x, (3, -1)), lambda x: x.reshape(3, -1),
                    (uniform(2, 6),)),
    "permute": Case("permute", lambda x: F.permute(x, 2, 0, 1), lambda x: x.permute(2, 0, 1),
                      (uniform(2, 3, 4),)),
    "transpose": Case("transpose", lambda x: F.transpose(x, 0, 2), lambda x: x.transpose(0, 2),
                               (uniform(2, 3, 4),)),
    "flatten": Case("flatten", lambda x: F.flatten(x, 1), lambda x: torch.flatten(x, 1),
                    (uniform(2, 3, 2),)),
    "getitem slices": Case("getitem", lambda x: F.getitem(x, (slice(1, None), slice(None, None, 2))),
                           lambda x: x[1:, ::2], (uniform(3, 5),)),
    "getitem repeated rows": Case("getitem", lambda x: F.getitem(x, [0, 2, 2]), lambda x: x[[0, 2, 2]],
                                  (uniform(3, 4),)),
    "linear": Case("linear", F.linear, TF.linear, (uniform(3, 4), uniform(5, 4), uniform(5))),
    "conv2d stride 1 pad 1": Case(
        "conv2d", lambda x, w, b: F.conv2d(x, w, b, 1, 1), lambda x, w, b: TF.conv2d(x, w, b, 1, 1),
        (uniform(2, 2, 5, 4), uniform(3, 2, 3, 3), uniform(3))),
    "conv2d stride 2 overlapping": Case(
        "conv2d", lambda x, w, b: F.conv2d(x, w, b, 2, (0, 1)),
        lambda x, w, b: TF.conv2d(x, w, b, 2, (0, 1)),
        (uniform(1, 2, 6, 5), uniform(2, 2, 3, 3), uniform(2))),
    "unfold": Case("unfold", lambda x: F.unfold(x, (2, 3), stride=(1, 2), padding=1),
                   lambda x: TF.unfold(x, (2, 3), padding=1, stride=(1, 2)), (uniform(2, 2, 4, 5),)),
    "fold": Case("fold", lambda u: F.fold(u, (4, 5), (2, 3), stride=(1, 2), padding=1),
                 lambda u: TF.fold(u, (4, 5), (2, 3), padding=1, stride=(1, 2)),
                 (uniform(2, 12, 15),)),  # L = 5 · 3 positions, K = 2 channels · 6
    "max_pool2d 3x3 stride 2": Case("max_pool2d", lambda x: F.max_pool2d(x, 3, 2),
                                    lambda x: TF.max_pool2d(x, 3, 2), (untied(2, 2, 7, 6),)),
    "max_pool2d 2x2 odd size": Case("max_pool2d", lambda x: F.max_pool2d(x, 2),
                                    lambda x: TF.max_pool2d(x, 2), (untied(2, 2, 5, 7),)),
    "global_max_pool2d": Case("global_max_pool2d", F.global_max_pool2d,
                              lambda x: TF.adaptive_max_pool2d(x, 1).flatten(1), (untied(2, 3, 3, 4),)),
    "global_avg_pool2d": Case("global_avg_pool2d", F.global_avg_pool2d,
                              lambda x: TF.adaptive_avg_pool2d(x, 1).flatten(1), (uniform(2, 3, 3, 4),)),
    "avg_pool2d 3x3 stride 2 pad 1": Case(
        "avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1), lambda x: TF.avg_pool2d(x, 3, 2, 1),
        (uniform(2, 2, 7, 6),)),
    "adaptive_max_pool2d 3x2": Case(
        "adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (3, 2)),
        lambda x: TF.adaptive_max_pool2d(x, (3, 2)), (untied(2, 2, 7, 5),)),
    "adaptive_avg_pool2d 3x2": Case(
        "adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
        lambda x: TF.adaptive_avg_pool2d(x, (3, 2)), (uniform(2, 2, 7, 5),)),
    "nll_loss": Case("nll_loss", F.nll_loss, TF.nll_loss,
                     (uniform(4, 5, low=-3, high=3), labels(4, 5))),
    "log_softmax": Case("log_softmax", F.log_softmax, lambda x: TF.log_softmax(x, -1),
                        (uniform(3, 5, low=-5, high=5),)),
    "log_softmax axis 0": Case("log_softmax", lambda x: F.log_softmax(x, 0),
                               lambda x: TF.log_softmax(x, 0), (uniform(3, 5),)),
    "cross_entropy": Case("cross_entropy", F.cross_entropy, TF.cross_entropy,
                          (uniform(4, 5, low=-3, high=3), labels(4, 5))),
    "binary_cross_entropy_with_logits": Case("binary_cross_entropy_with_logits", bce, torch_bce,
                                             (uniform(3, 4, low=-3, high=3),)),
    "abs": Case("abs", F.abs, torch.abs, (off_zero(3, 4),)),
    "sigmoid": Case("sigmoid", F.sigmoid, torch.sigmoid, (uniform(3, 4, low=-6, high=6),)),
    "tanh": Case("tanh", F.tanh, torch.tanh, (uniform(3, 4),)),
    "softmax": Case("softmax", lambda x: F.softmax(x, 0), lambda x: torch.softmax(x, 0),
                    (uniform(3, 4, low=-5, high=5),)),
    "where": Case("where", lambda a, b: F.where(WHERE_MASK[a.device], a, b),
                  lambda a, b: torch.where(torch.tensor(WHERE_MASK["cpu"].numpy()), a, b),
                  (uniform(2, 3), uniform(3))),
    "amin": Case("amin", lambda x: F.amin(x, 1), lambda x: x.amin(1), (untied(3, 4),)),
    "min dim values": Case("min", lambda x: F.min(x, 0).values, lambda x: torch.min(x, 0).values,
                           (untied(3, 4),)),
    "sqrt": Case("sqrt", F.sqrt, torch.sqrt, (uniform(3, 4, low=0.2, high=3),)),
    "var dim": Case("var", lambda x: F.var(x, 1), lambda x: torch.var(x, 1), (uniform(3, 4),)),
    "std all biased": Case("std", lambda x: F.std(x, unbiased=False),
                           lambda x: torch.std(x, unbiased=False), (uniform(3, 4),)),
    "expand": Case("expand", lambda x: F.expand(x, 3, -1, 4), lambda x: x.expand(3, -1, 4),
                   (uniform(1, 2, 1),)),
    "unsqueeze squeeze": Case("unsqueeze", lambda x: F.squeeze(F.unsqueeze(x, 1), 2),
                              lambda x: x.unsqueeze(1).squeeze(2), (uniform(2, 1, 3),)),
    "squeeze": Case("squeeze", F.squeeze, torch.squeeze, (uniform(2, 1, 3, 1),)),
    "cat": Case("cat", lambda a, b: F.cat([a, b, a], 1), lambda a, b: torch.cat([a, b, a], 1),
                (uniform(2, 3), uniform(2, 1))),
    "stack": Case("stack", lambda a, b: F.stack([a, b], -1), lambda a, b: torch.stack([a, b], -1),
                  (uniform(2, 3), uniform(2, 3))),
    "batch_norm": Case("batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, True),
                       lambda x, w, b: TF.batch_norm(x, None, None, w, b, True),
                       (uniform(4, 3, 2, 2), uniform(3), uniform(3))),
    "mse_loss": Case("mse_loss", F.mse_loss, TF.mse_loss, (uniform(3, 4), uniform(3, 4))),
    "l1_loss": Case("l1_loss", F.l1_loss, TF.l1_loss,  # input > target: off the kink
                    (uniform(3, 4, low=0.5, high=2), uniform(3, 4, low=-2, high=0.3))),
    "binary_cross_entropy": Case(
        "binary_cross_entropy",
        lambda p: F.binary_cross_entropy(p, Tensor(BCE_TARGET, dtype=p.dtype, device=p.device)),
        lambda p: TF.binary_cross_entropy(p, torch.tensor(BCE_TARGET, dtype=p.dtype)),
        (uniform(3, 4, low=0.1, high=0.9),)),
}
# helpers in F, not ops; comparisons and positions; dropout is random (tests/test_torch_face.py)
NOT_DIFFERENTIABLE = {"conv_output_size", "one_hot", "argmax", "argmin", "dropout"}


def inputs_of(case, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    arrays = [make(rng) for make in case.makers]
    return [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]


def test_the_table_covers_every_differentiable_op_in_functional():
    assert {case.op for case in CASES.values()} == set(F.__all__) - NOT_DIFFERENTIABLE


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_passes_on_every_builtin_op(name, device):
    case = CASES[name]
    inputs = [on(device, a) if a.dtype.kind == "f" else a for a in inputs_of(case)]
    assert gradcheck(case.fn, *inputs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_compare_with_torch_passes_on_every_builtin_op(name, dtype, device):
    case = CASES[name]
    assert compare_with_torch(case.fn, case.torch_fn, *inputs_of(case, dtype=dtype), device=device)


# ----- 2. gradcheck ----------------------------------------------------------------------------

class Cube(Function):
    """A user-defined op: y = x³, dy/dx = 3x²."""

    def forward(self, x):
        self.x = x
        return x * x * x

    def backward(self, grad_out):
        return (grad_out * 3 * self.x * self.x,)


class CubeWrong(Cube):
    """The same op with the wrong derivative 2x²."""

    def backward(self, grad_out):
        return (grad_out * 2 * self.x * self.x,)


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_passes_a_user_defined_op_in_a_composite_function(device):
    x, w = on(device, np.linspace(-1, 1, 6).reshape(2, 3)), on(device, np.ones((3, 2)))
    assert gradcheck(lambda x, w: F.relu(Cube.apply(x) @ w + 2.0).sum(dim=0), x, w)


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_failure_names_input_index_both_values_and_shapes(device):
    bias = np.zeros((4, 3))
    x = np.random.default_rng(1).uniform(-2, 2, size=(4, 3))

    def fn(bias, x):
        return bias + CubeWrong.apply(x)

    # What gradcheck must find: analytic g·2x², numeric g·3x², g from seed 0.
    upstream = np.random.default_rng(0).standard_normal((4, 3))
    analytic, numeric = upstream * 2 * x**2, upstream * 3 * x**2
    excess = np.abs(analytic - numeric) - (1e-6 + 1e-5 * np.abs(numeric))  # the defaults
    worst = np.unravel_index(excess.argmax(), x.shape)

    with pytest.raises(AssertionError) as failure:
        gradcheck(fn, on(device, bias), on(device, x))
    message = str(failure.value)
    assert "input 1 (x)" in message and "input 0" not in message   # bias is right
    assert "wrong at 12 of 12 elements" in message
    assert "input shape (4, 3), output shape (4, 3)" in message
    assert f"worst at index {tuple(int(i) for i in worst)}" in message
    found = re.search(r"analytic (\S+), numeric (\S+) ", message)
    assert float(found[1]) == pytest.approx(analytic[worst], rel=1e-6)
    assert float(found[2]) == pytest.approx(numeric[worst], rel=1e-6)
    assert "times 0.666667 everywhere" in message                   # the hint: 2x² / 3x²


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_names_a_flipped_sign(device):
    class Backwards(Cube):
        def backward(self, grad_out):
            return (-3 * grad_out * self.x * self.x,)

    with pytest.raises(AssertionError, match="sign flipped"):
        gradcheck(Backwards.apply, on(device, np.linspace(0.5, 2, 5)))


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_reports_a_gradient_of_the_wrong_shape(device):
    class AddWithoutUnbroadcast(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, grad_out):
            return grad_out, grad_out

    a, b = on(device, np.ones((2, 3))), on(device, np.ones(3))
    with pytest.raises(AssertionError, match=r"AddWithoutUnbroadcast.backward returned a gradient "
                                             r"of shape \(2, 3\) for an input of shape \(3,\)"
                                             r".*unbroadcast"):
        gradcheck(lambda a, b: AddWithoutUnbroadcast.apply(a, b), a, b)


class DoubleInPlace(Function):
    """y = 2x.   dy/dx = 2, computed by doubling grad_out in place: the right numbers,
    written into an array that belongs to whoever called backward."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad_out):
        grad_out *= 2
        return (grad_out,)


@pytest.mark.parametrize("device", DEVICES)
def test_the_checkers_catch_a_backward_that_writes_into_grad_out(device):
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    assert compare_with_torch(lambda t: 2 * t, lambda t: 2 * t, x, device=device)
    with pytest.raises(AssertionError, match="gradcheck: backward changed the upstream gradient"):
        gradcheck(DoubleInPlace.apply, on(device, x))
    with pytest.raises(AssertionError, match="compare_with_torch: backward changed the upstream"):
        compare_with_torch(DoubleInPlace.apply, lambda t: 2 * t, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_fails_on_nan_gradients(device):
    class NaNGradient(Cube):
        def backward(self, grad_out):
            return (grad_out * float("nan"),)

    with pytest.raises(AssertionError, match="analytic nan"):
        gradcheck(NaNGradient.apply, on(device, np.ones(3)))


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_fails_when_fn_cuts_the_graph(device):
    with pytest.raises(AssertionError, match="graph was cut"):
        gradcheck(lambda x: Tensor(x.data * 2), on(device, np.ones(3)))


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_checks_only_inputs_that_require_grad(device):
    """A constant tensor and integer labels pass through; only the logits are checked."""
    logits = on(device, np.random.default_rng(0).standard_normal((3, 4)))
    scale = on(device, np.full((3, 4), 2.0), requires_grad=False)
    targets = np.array([0, 3, 1])
    assert gradcheck(lambda x, s, t: F.cross_entropy(x * s, t), logits, scale, targets)
    # CubeWrong on a constant is never differentiated, so nothing is wrong.
    assert gradcheck(lambda x, c: x * CubeWrong.apply(c), logits, scale)


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_leaves_the_callers_inputs_alone(device):
    data = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    x = on(device, data)
    assert gradcheck(lambda t: Cube.apply(t).sum(), x)
    assert x.dtype == np.float32 and x.grad is None and x.device == device
    np.testing.assert_array_equal(host(x), data)


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_accepts_raw_float_arrays_on_either_device(device):
    array = backend.to_device(np.linspace(-1, 1, 4), device)
    assert gradcheck(lambda t: F.exp(t) * t, array)


def test_gradcheck_refuses_what_it_cannot_check():
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(F.exp, Tensor(np.ones(3)))
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda x: x.data, np.ones(3))
    with pytest.raises(TypeError, match="float32 from float64 inputs"):
        gradcheck(lambda x: Tensor(x.data.astype(np.float32)), np.ones(3))


class Recorder(Function):
    """y = x.   dy/dx = 1; backward also keeps a host copy of each upstream gradient."""

    seen = []

    def forward(self, x):
        return x

    def backward(self, grad_out):
        Recorder.seen.append(host(grad_out))
        return (grad_out,)


def upstream_gradient(x, device, seed):
    """The upstream gradient gradcheck sends into backward (its forwards only run no_grad)."""
    Recorder.seen.clear()
    assert gradcheck(Recorder.apply, on(device, x), seed=seed)
    (grad,) = Recorder.seen
    return grad


def test_gradcheck_upstream_gradient_depends_on_the_seed_only():
    x, y = np.zeros((2, 3)), np.random.default_rng(5).standard_normal((2, 3))
    first = upstream_gradient(x, "cpu", seed=0)
    np.testing.assert_array_equal(first, np.random.default_rng(0).standard_normal((2, 3)))
    np.testing.assert_array_equal(upstream_gradient(y, "gpu", seed=0), first)  # not the data
    other = upstream_gradient(x, "cpu", seed=1)
    assert not np.any(np.isclose(other, first))                               # the seed


# ----- 3. compare_with_torch -------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_compare_with_torch_flags_a_wrong_forward(device):
    with pytest.raises(AssertionError, match="forward values differ"):
        compare_with_torch(lambda x: F.exp(x) + 1e-3, torch.exp, np.zeros(3), device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_compare_with_torch_flags_a_wrong_gradient_and_names_the_input(device):
    x, y = np.linspace(-1, 1, 4), np.linspace(1, 2, 4)
    with pytest.raises(AssertionError, match=r"gradient of input 0 \(shape \(4,\)\) differs"):
        compare_with_torch(lambda a, b: CubeWrong.apply(a) + b, lambda a, b: a ** 3 + b, x, y,
                           device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_compare_with_torch_flags_a_wrong_shape(device):
    with pytest.raises(AssertionError, match=r"output shape \(3,\), PyTorch's is \(1, 3\)"):
        compare_with_torch(F.exp, lambda x: torch.exp(x)[None], np.zeros(3), device=device)


def test_compare_with_torch_accepts_an_input_neither_side_differentiates():
    assert compare_with_torch(lambda a, b: F.exp(a), lambda a, b: torch.exp(a),
                              np.zeros(2), np.ones(2))


def test_compare_with_torch_without_torch_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)   # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=r"needs PyTorch.*pip install"):
        compare_with_torch(F.exp, None, np.zeros(3))


def test_minigrad_testing_imports_and_gradchecks_without_torch():
    """A fresh interpreter in which torch cannot be imported: gradcheck still works."""
    script = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None
        import numpy as np
        import minigrad.functional as F
        from minigrad.testing import compare_with_torch, gradcheck
        from minigrad.testing import strategies
        assert gradcheck(F.exp, np.ones(3))
        try:
            compare_with_torch(F.exp, None, np.ones(3))
        except ImportError as error:
            print(error)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "compare_with_torch needs PyTorch" in result.stdout


# ----- 4. the strategies -----------------------------------------------------------------------

def meta(shape):
    """A torch tensor that has a shape and no data: shape arithmetic only."""
    return torch.empty(shape, device="meta")


@given(g=S.conv_geometry())
def test_conv_geometry_is_valid(g):
    """PyTorch accepts every drawn geometry and makes at least a 1×1 output of the size the
    geometry states (conv_output_size itself is tested against PyTorch in test_conv)."""
    expected = TF.conv2d(meta(g.input_shape), meta(g.weight_shape), None, *g.conv).shape
    assert (g.n, g.out_channels) + g.out_size == tuple(expected)
    assert min(g.out_size) >= 1
    assert TF.unfold(meta(g.input_shape), *g.window).shape == g.cols_shape


def test_conv_geometry_includes_windows_that_do_not_tile_dilation_and_groups():
    no_shrink = settings(database=None, max_examples=500, phases=[Phase.generate])

    def spare_rows(g):
        """Padded rows the last window leaves over: 0 when the windows tile the input."""
        span = g.dilation[0] * (g.kernel[0] - 1) + 1
        return (g.h + 2 * g.padding[0] - span) % g.stride[0]

    g = find(S.conv_geometry(), lambda g: spare_rows(g) and g.padding[1] > 0
             and g.dilation[0] > 1 and g.kernel[0] > 1 and g.groups > 1, settings=no_shrink)
    assert g.out_size[0] >= 1 and g.c % g.groups == 0 and g.out_channels % g.groups == 0


@given(g=S.pool_geometry())
def test_pool_geometry_is_valid(g):
    """PyTorch accepts every drawn geometry and makes an output of the size it states
    (max_pool2d's own shapes are tested against PyTorch in test_pool)."""
    expected = TF.max_pool2d(meta(g.input_shape), **g.max_args).shape
    assert (g.n, g.c) + g.out_size == tuple(expected) and min(g.out_size) >= 1
    if g.dilation == (1, 1):                             # avg_pool2d has no dilation
        assert TF.avg_pool2d(meta(g.input_shape), **g.avg_args).shape == expected


def test_pool_geometry_includes_padding_dilation_and_ceil_mode():
    no_shrink = settings(database=None, max_examples=500, phases=[Phase.generate])
    g = find(S.pool_geometry(), lambda g: g.ceil_mode and min(g.padding) > 0
             and g.dilation[0] > 1 and g.stride[1] < g.kernel_size[1], settings=no_shrink)
    assert min(g.out_size) >= 1


@given(pair=S.broadcastable_shapes())
def test_broadcastable_shapes_broadcast(pair):
    a, b = pair
    np.broadcast_shapes(a, b)   # raises if they do not


@given(x=S.untied_arrays(S.shapes(max_dims=3, max_side=6)), y=S.untied_arrays((40,), gap=0.2,
                                                                             dtype=np.float32))
def test_untied_arrays_have_no_ties_and_keep_the_gap(x, y):
    for values, gap in ((x, 0.01), (y, 0.2)):
        steps = np.diff(np.sort(values.ravel()))
        assert np.all(steps >= gap * (1 - 1e-4))
    assert y.dtype == np.float32


@given(x=S.away_from_zero(S.shapes(max_dims=3), margin=0.25, high=1.5))
def test_away_from_zero_keeps_its_margin(x):
    assert np.all(np.abs(x) >= 0.25) and np.all(np.abs(x) <= 1.5)
    assert 1 <= x.ndim <= 3


@given(x=S.arrays(S.shapes(max_dims=2), low=-0.5, high=0.25, dtype=np.float32),
       n=S.arrays((5,), low=0, high=3, dtype=np.int64),
       e=S.arrays((2, 2), elements=st.floats(-1, 1)))
def test_arrays_respect_shape_dtype_and_range(x, n, e):
    assert x.dtype == np.float32 and np.all((x >= -0.5) & (x <= 0.25))
    assert n.dtype == np.int64 and n.shape == (5,) and np.all((n >= 0) & (n <= 3))
    assert e.shape == (2, 2) and np.all(np.abs(e) <= 1)


@pytest.mark.parametrize("device", DEVICES)
@given(data=st.data())
def test_tensors_on_a_device(device, data):
    t = data.draw(S.tensors(S.shapes(max_dims=2), dtype=np.float32, device=device))
    assert isinstance(t, Tensor) and t.device == device and t.requires_grad
    assert t.dtype == np.float32
    u = data.draw(S.tensors(values=S.untied_arrays((3, 3)), device=device, requires_grad=False))
    assert u.shape == (3, 3) and not u.requires_grad and len(np.unique(host(u))) == 9
    layout = data.draw(st.sampled_from(LAYOUTS))
    v = data.draw(S.tensors((2, 3, 2), device=device, layouts=[layout]))
    assert layout_of(v.data) == layout                   # kept on the way to the device


def failing_example(test, **names):
    """Run a hypothesis test that must fail; evaluate the falsifying call it prints, as a
    user would paste it, and return the arguments it rebuilds (plus the printed text)."""
    with pytest.raises(AssertionError) as failure:
        test()
    printed = next(note for note in failure.value.__notes__ if note.startswith("Failing"))
    call = printed[printed.index(f"{test.__name__}("):]
    arguments = eval(call, {test.__name__: lambda **kwargs: kwargs, **names})
    return arguments, printed


def test_a_failure_shrinks_to_a_small_shape_and_seed_printed_as_a_pasteable_call():
    @settings(database=None, max_examples=100)
    @given(x=S.arrays(S.shapes(max_dims=3, max_side=6)))
    def needs_fewer_than_four_elements(x):
        assert x.size < 4

    arguments, printed = failing_example(needs_fewer_than_four_elements,
                                         uniform_array=S.uniform_array)
    assert "x=uniform_array(" in printed and re.search(r"seed=0\b", printed), printed
    assert arguments["x"].size == 4                  # the smallest size that fails


def test_a_geometry_failure_shrinks_to_a_pasteable_geometry():
    @settings(database=None, max_examples=100)
    @given(g=S.conv_geometry())
    def at_most_two_output_rows(g):
        assert g.out_size[0] <= 2

    arguments, printed = failing_example(at_most_two_output_rows, ConvGeometry=S.ConvGeometry)
    g = arguments["g"]
    assert g.out_size == (3, 1), printed                       # just over the limit
    assert (g.n, g.c, g.w, g.out_channels) == (1, 1, 1, 1), printed  # and nothing else
    assert g.kernel == (1, 1) and g.stride == (1, 1) and g.dilation == (1, 1), printed
    assert g.groups == 1, printed


# ----- 5. memory layouts -----------------------------------------------------------------------

def long_strides(array):
    """The strides of the axes longer than 1 (the others' strides never matter)."""
    return [stride for stride, side in zip(array.strides, array.shape) if side > 1]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", LAYOUTS)
@given(shape=S.shapes(min_dims=0, max_dims=4), dtype=st.sampled_from([np.float64, np.int64]))
def test_in_layout_keeps_the_values_and_makes_the_layout(device, layout, shape, dtype):
    original = backend.to_device(np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape), device)
    stored = in_layout(original, layout)
    assert backend.device_of(stored) == device and stored.dtype == dtype
    np.testing.assert_array_equal(host(stored), host(original))
    original[...] = -1                                   # a copy: the original is not shared
    assert not np.any(host(stored) == -1)
    if len(shape) >= 3 and min(shape) > 1:               # every layout tells itself apart
        assert layout_of(stored) == layout
    again = copy_to(stored)                              # the layout it sees is the one it makes
    assert long_strides(again) == long_strides(stored)
    stored[...] = -2                                     # and a copy again
    assert not np.any(host(again) == -2)


def test_the_layouts_have_the_strides_they_promise():
    a = np.arange(24.0).reshape(2, 3, 4)
    assert in_layout(a, "contiguous").strides == (96, 32, 8)
    assert in_layout(a, "transposed").strides == (8, 16, 48)
    assert in_layout(a, "channel-major").strides == (32, 64, 8)
    assert in_layout(a, "batch-last").strides == (8, 64, 16)
    assert in_layout(a, "strided").strides == (2 * 96 * 2 * 2, 2 * 32 * 2, 2 * 8)
    assert in_layout(a, "reversed").strides == (-96, -32, -8)
    buffer = in_layout(a, "strided").base                 # what the view skips is NaN
    assert buffer.shape == (4, 6, 8) and np.isnan(buffer).sum() == buffer.size - a.size
    with pytest.raises(ValueError, match="layout must be one of"):
        in_layout(a, "diagonal")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("device", DEVICES)
def test_copy_to_keeps_the_layout_across_devices_and_dtypes(device, layout):
    a = in_layout(np.arange(24.0).reshape(2, 3, 4), layout)
    moved = copy_to(a, device, np.float32)
    assert backend.device_of(moved) == device and moved.dtype == np.float32
    assert layout_of(moved) == layout and layout_of(copy_to(moved, "cpu")) == layout
    np.testing.assert_array_equal(host(moved), a)
    assert layout_of(on(device, a).data) == layout       # the tests' own helper, too


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_strategies_draw_every_layout_with_the_same_values(layout):
    no_shrink = settings(database=None, max_examples=200, phases=[Phase.generate])
    shape = (2, 3, 4)
    for strategy in (S.arrays(shape), S.away_from_zero(shape), S.untied_arrays(shape),
                     S.arrays(shape, elements=st.floats(-1, 1))):
        assert layout_of(find(strategy, lambda a: layout_of(a) == layout, settings=no_shrink))
    for builder in (S.uniform_array, S.away_from_zero_array, S.untied_array):
        np.testing.assert_array_equal(builder(shape, 7, layout=layout), builder(shape, 7))


@settings(max_examples=20)
@given(x=S.arrays(S.shapes(), layouts=["contiguous"]),
       t=S.tensors((3, 4), device="gpu", layouts=["contiguous"]))
def test_layouts_contiguous_turns_the_draw_off(x, t):
    assert x.flags.c_contiguous and t.data.flags.c_contiguous


def test_the_strategies_refuse_an_unknown_layout():
    with pytest.raises(ValueError, match="layouts must be a non-empty selection"):
        S.arrays((2, 2), layouts=["sideways"])
    with pytest.raises(ValueError, match="layouts must be a non-empty selection"):
        S.untied_arrays((2, 2), layouts=[])


class LayoutSpy(Function):
    """y = x.   dy/dx = 1; forward notes the layout it was handed."""

    seen = []

    def forward(self, x):
        LayoutSpy.seen.append(layout_of(x))
        return x * 1

    def backward(self, grad_out):
        return (grad_out,)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("device", DEVICES)
def test_the_checkers_hand_the_op_its_input_in_the_callers_layout(device, layout):
    x = in_layout(np.linspace(-1, 1, 24).reshape(2, 3, 4).astype(np.float32), layout)
    LayoutSpy.seen.clear()
    assert gradcheck(LayoutSpy.apply, on(device, x))     # float32 → float64, layout kept
    assert gradcheck(LayoutSpy.apply, backend.to_device(x, "cpu"))
    assert compare_with_torch(LayoutSpy.apply, lambda t: t * 1, x, device=device)
    assert set(LayoutSpy.seen) == {layout}


class PairSum(Function):
    """y[i] = x[i] + x[i + 1].   dy/dx: each x[j] feeds y[j − 1] and y[j].

    A planted bug: the forward reads x's windows with stride tricks that assume a
    contiguous array, so it is right only for contiguous inputs."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        windows = xp.lib.stride_tricks.as_strided(x, (x.shape[0] - 1, 2), (x.itemsize,) * 2)
        return windows.sum(axis=1)

    def backward(self, grad_out):
        xp = backend.get_array_module(grad_out)
        grad = xp.zeros(grad_out.shape[0] + 1, dtype=grad_out.dtype)
        grad[:-1] += grad_out
        grad[1:] += grad_out
        return (grad,)


def test_an_op_right_only_for_contiguous_inputs_is_caught_and_printed_with_its_layout():
    def pair_sum_matches_torch(x):
        compare_with_torch(PairSum.apply, lambda t: t[:-1] + t[1:], x)

    vectors = S.shapes(min_dims=1, max_dims=1, min_side=2)
    settings(database=None, max_examples=50)(given(x=S.arrays(vectors, layouts=["contiguous"]))(
        pair_sum_matches_torch))()                      # passes when every input is contiguous

    @settings(database=None, max_examples=100, report_multiple_bugs=False)  # strided, reversed
    @given(x=S.arrays(vectors))
    def test_pair_sum(x):
        pair_sum_matches_torch(x)

    arguments, printed = failing_example(test_pair_sum, uniform_array=S.uniform_array)
    assert layout_of(arguments["x"]) in ("strided", "reversed"), printed
    assert re.search(r"layout='(strided|reversed)'", printed), printed
    with pytest.raises(AssertionError):
        pair_sum_matches_torch(arguments["x"])          # the pasted call fails again


# ----- 6. the hypothesis profiles --------------------------------------------------------------

def test_the_profiles_are_the_documented_ones():
    ci, dev, thorough = (settings.get_profile(name) for name in ("ci", "dev", "thorough"))
    assert ci.derandomize and ci.max_examples >= 50 and ci.database is None
    assert not thorough.derandomize and thorough.max_examples >= 200
    assert not dev.derandomize and dev.max_examples <= ci.max_examples
    for profile in (ci, dev, thorough):
        assert profile.deadline is None and HealthCheck.too_slow in profile.suppress_health_check


# ----- 7. the custom-op example ----------------------------------------------------------------

def test_the_custom_op_example_passes_its_op_and_catches_the_wrong_one(capsys):
    """examples/custom_op.py: the right softplus passes gradcheck and its property test,
    the wrong one fails both, and the shrunk counterexample is printed."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "custom_op.py"
    spec = importlib.util.spec_from_file_location("custom_op_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main() == 0
    printed = capsys.readouterr().out
    assert "gradcheck: the gradient of input 0 (x) is wrong" in printed
    assert "Failing test case: test_softplus_wrong_gradient(" in printed
