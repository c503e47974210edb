"""The checkers themselves: gradcheck, compare_with_torch and the hypothesis strategies.

1. Both checkers pass on every differentiable op in minigrad.functional, on both devices
   (one table of cases: op, minigrad function, PyTorch function, input makers).
2. gradcheck's failure says which input, where, both values and the shapes; it copes
   with user-defined ops, constants, labels, device arrays, and refuses what it can't check.
3. compare_with_torch flags wrong values, wrong gradients and wrong shapes, and says how
   to install PyTorch when it is missing.
4. The strategies only produce what they promise (valid geometry, no ties, no kinks,
   shapes that broadcast), and their failures shrink to a call you can paste.
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
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

import minigrad.functional as F
from minigrad import Tensor, backend
from minigrad.tensor import Function
from minigrad.testing import compare_with_torch, gradcheck
from minigrad.testing import strategies as S
from helpers import DEVICES, host, on


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
}
NOT_DIFFERENTIABLE = {"conv_output_size", "one_hot"}  # helpers in F, not ops


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
    excess = np.abs(analytic - numeric) - (1e-5 + 1e-3 * np.abs(numeric))
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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradcheck_upstream_gradient_depends_on_the_seed_only(seed):
    x = np.random.default_rng(5).standard_normal((2, 3))
    assert gradcheck(lambda t: F.log_softmax(t), x, seed=seed)


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
def test_conv_geometry_is_valid_and_matches_torchs_output_shape(g):
    oh, ow = g.out_size
    assert oh >= 1 and ow >= 1
    expected = TF.conv2d(meta(g.input_shape), meta(g.weight_shape), stride=g.stride,
                         padding=g.padding).shape
    assert (g.n, g.out_channels, oh, ow) == tuple(expected)
    assert F.conv2d(Tensor(np.zeros(g.input_shape)), Tensor(np.zeros(g.weight_shape)),
                    stride=g.stride, padding=g.padding).shape == tuple(expected)


def test_conv_geometry_includes_strides_that_do_not_divide():
    no_shrink = settings(database=None, max_examples=500, phases=[Phase.generate])
    g = find(S.conv_geometry(), lambda g: (g.h + 2 * g.padding[0] - g.kernel[0]) % g.stride[0] != 0
             and g.padding[1] > 0, settings=no_shrink)
    assert g.out_size[0] >= 1


@given(g=S.pool_geometry())
def test_pool_geometry_is_valid_and_matches_torchs_output_shape(g):
    assert 1 <= g.kernel[0] <= g.h and 1 <= g.kernel[1] <= g.w and min(g.stride) >= 1
    expected = TF.max_pool2d(meta(g.input_shape), g.kernel, g.stride).shape
    assert (g.n, g.c) + g.out_size == tuple(expected)
    assert F.max_pool2d(Tensor(np.zeros(g.input_shape)), g.kernel, g.stride).shape == tuple(expected)


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
    assert g.kernel == (1, 1) and g.stride == (1, 1), printed


# ----- 5. the custom-op example ----------------------------------------------------------------

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
