"""Every basic op, checked three ways on both devices:

(a) backward against float64 central differences (``gradcheck`` at rtol 1e-5, atol 1e-6,
    random upstream gradient);
(b) values and gradients against PyTorch in float64, with tight tolerances;
(c) the same in float32, with compare_with_torch's float32 defaults.

Shapes and values come from hypothesis; inputs are kept off kinks (ReLU at 0, clamp's
bounds), ties (max, maximum) and the poles of log, division and negative powers. The
strategies also draw each input's memory layout, so the op may see it contiguous,
transposed, channel-major, batch-last, strided (every other element) or reversed, on
either device; check_op and the checkers hand it over in that layout (PyTorch gets a
contiguous copy: it refuses negative strides). Kinks, ties, NaN, zero-size dims and 1-D
products are then pinned against PyTorch case by case.
"""
import inspect
import re

import numpy as np
import pytest
import torch
from helpers import DEVICES, host, on
from hypothesis import given
from hypothesis import strategies as st

from minigrad import ShapeError, Tensor, backend
from minigrad.autograd import Function
from minigrad.ops import elementwise, linalg, reduce, shape
from minigrad.testing import compare_with_torch, gradcheck
from minigrad.testing.layouts import copy_to, in_layout, layout_of
from minigrad.testing.strategies import arrays, away_from_zero, broadcastable_shapes, shapes, untied_arrays

SMALL = shapes(min_dims=1, max_dims=3, max_side=4)
BROADCAST = broadcastable_shapes(min_dims=0, max_dims=3, max_side=3)


def check_op(fn, torch_fn, *arrays_, device):
    """Output shape as PyTorch's, gradcheck in float64 (at its default rtol 1e-5, atol
    1e-6), then PyTorch in float64 and float32; every input in the layout it came in."""
    arrays64 = [copy_to(np.asarray(a), dtype=np.float64) for a in arrays_]
    out_shape = fn(*[on(device, a, requires_grad=False) for a in arrays64]).shape
    assert out_shape == tuple(torch_fn(*[torch.tensor(a.copy()) for a in arrays64]).shape)
    gradcheck(fn, *[on(device, a) for a in arrays64])
    compare_with_torch(fn, torch_fn, *arrays64, device=device)
    compare_with_torch(fn, torch_fn, *[copy_to(a, dtype=np.float32) for a in arrays64],
                       device=device)


def grid(shape, offset):
    """Values on the grid k/5 + offset, in the layout drawn: two grids with offsets 0 and
    0.1 never come closer than 0.1, so maximum, minimum and clamp see no ties or bounds."""
    return arrays(shape).map(lambda a: in_layout(np.round(a * 5) / 5 + offset, layout_of(a)))


# ----- elementwise, binary, with broadcasting ----------------------------------------------

BINARY = {
    "add": (elementwise.add, torch.add),
    "sub": (elementwise.sub, torch.sub),
    "mul": (elementwise.mul, torch.mul),
    "div": (elementwise.div, torch.div),
    "maximum": (elementwise.maximum, torch.maximum),
    "minimum": (elementwise.minimum, torch.minimum),
    "max": (reduce.max, torch.max),   # max(input, other): the elementwise maximum
    "pow": (elementwise.pow, torch.pow),
}


@st.composite
def binary_inputs(draw, op):
    shape_a, shape_b = draw(BROADCAST)
    if op in ("maximum", "minimum", "max"):
        return draw(grid(shape_a, 0.1)), draw(grid(shape_b, 0.0))
    if op == "pow":  # a positive base, so ln b exists; any exponent
        return draw(arrays(shape_a, low=0.3, high=2.0)), draw(arrays(shape_b))
    a = draw(arrays(shape_a))
    b = draw(away_from_zero(shape_b) if op == "div" else arrays(shape_b))
    return a, b


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", sorted(BINARY))
@given(data=st.data())
def test_binary_ops_broadcast(op, device, data):
    a, b = data.draw(binary_inputs(op))
    fn, torch_fn = BINARY[op]
    check_op(fn, torch_fn, a, b, device=device)


# Every broadcasting pattern, spelled out so none depends on what hypothesis draws.
BROADCAST_PATTERNS = [
    ((2, 3), (2, 3)),        # no broadcasting
    ((), (2, 3)),            # 0-d with an array
    ((2, 3), ()),
    ((3,), (2, 3)),          # missing leading axis
    ((2, 3), (3,)),
    ((1,), (2, 3)),
    ((2, 1), (2, 3)),        # size-1 axis
    ((2, 3), (1, 3)),
    ((2, 1), (1, 3)),        # size-1 axes on both sides
    ((2, 1, 3), (4, 1)),     # missing leading axis and size-1 axes on both sides
    ((4, 1), (2, 1, 3)),
    ((1, 1, 1), (2, 3)),     # input bigger in rank than the other, all ones
    ((2, 3, 1), (1, 3, 2)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("shape_a, shape_b", BROADCAST_PATTERNS)
def test_binary_ops_every_broadcast_pattern(op, shape_a, shape_b, device):
    rng = np.random.default_rng(abs(hash((shape_a, shape_b))) % 2**32)
    a = rng.uniform(0.5, 2, shape_a)
    b = rng.uniform(0.5, 2, shape_b) * rng.choice([-1, 1], shape_b)
    if op in ("maximum", "minimum", "max"):  # a tie-free grid, as binary_inputs draws
        a, b = np.round(a * 5) / 5 + 0.1, np.round(b * 5) / 5
    fn, torch_fn = BINARY[op]
    check_op(fn, torch_fn, a, b, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", sorted(BINARY))
@given(data=st.data())
def test_binary_ops_with_a_constant_operand(op, device, data):
    # Only one side requires grad; the constant side gets no gradient and
    # the other is still right (exercises needs_grad).
    a, b = data.draw(binary_inputs(op))
    fn, torch_fn = BINARY[op]
    x, c = on(device, a), on(device, b, requires_grad=False)
    out = fn(x, c)
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(backend.to_device(upstream, device))
    xt = torch.tensor(a.copy(), requires_grad=True)
    torch_fn(xt, torch.tensor(b.copy())).backward(torch.tensor(upstream))
    np.testing.assert_allclose(host(x.grad), xt.grad.numpy(), rtol=1e-7, atol=1e-9)
    assert c.grad is None
    # and the other way round
    y = on(device, b)
    out = fn(on(device, a, requires_grad=False), y)
    out.backward(backend.to_device(upstream, device))
    yt = torch.tensor(b.copy(), requires_grad=True)
    torch_fn(torch.tensor(a.copy()), yt).backward(torch.tensor(upstream))
    np.testing.assert_allclose(host(y.grad), yt.grad.numpy(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_and_minimum_split_a_tie_half_and_half(op, device):
    # Elementwise ties, a tie through broadcasting (b's one element meets two of a's),
    # and NaN, which PyTorch lets through to both sides.
    a = np.array([[1.0, 2.0, np.nan, 3.0], [2.0, 2.0, 0.0, 5.0]])
    b = np.array([[1.0], [2.0]])
    compare_with_torch(*BINARY[op], a, b, device=device)
    compare_with_torch(*BINARY[op], a, np.array([1.0, 3.0, 1.0, np.nan]), device=device)
    x, y = on(device, [2.0, 1.0]), on(device, [2.0, 2.0])
    getattr(elementwise, op)(x, y).sum().backward()
    expected = {"maximum": ([0.5, 0.0], [0.5, 1.0]), "minimum": ([0.5, 1.0], [0.5, 0.0])}[op]
    np.testing.assert_array_equal(host(x.grad), expected[0])
    np.testing.assert_array_equal(host(y.grad), expected[1])


# ----- pow: tensor exponents, number bases, and PyTorch's rule at b = 0 ---------------------

INTEGER_EXPONENTS = [0, 1, 2, 3, -1, -2]
FRACTIONAL_EXPONENTS = [0.5, 1.5, -0.5, 2.5, -1.5]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("exponent", INTEGER_EXPONENTS)
@given(x=away_from_zero(SMALL, margin=0.3))
def test_pow_integer_exponent_any_sign_base(device, exponent, x):
    check_op(lambda t: elementwise.pow(t, exponent), lambda t: t ** exponent, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("exponent", FRACTIONAL_EXPONENTS)
@given(x=arrays(SMALL, low=0.3, high=2.0))
def test_pow_fractional_exponent_positive_base(device, exponent, x):
    check_op(lambda t: t ** exponent, lambda t: t ** exponent, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("base", [2.0, 0.5, 3])
@given(x=arrays(SMALL))
def test_pow_number_base_tensor_exponent(device, base, x):
    check_op(lambda t: elementwise.pow(base, t), lambda t: torch.pow(base, t), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns at 0⁻¹ and ln 0
def test_pow_at_base_zero_matches_torch(device):
    # dy/db = 0 where e = 0, dy/de = 0 where b = 0 and e ≥ 0; inf and nan elsewhere, as torch.
    base = np.array([0.0, 0.0, 0.0, 0.0, -1.0, 2.0, 0.0])
    exponent = np.array([0.0, 1.0, 2.0, -1.0, 0.5, 0.0, 0.5])
    compare_with_torch(elementwise.pow, torch.pow, base, exponent, device=device)
    compare_with_torch(lambda e: elementwise.pow(0.0, e), lambda e: torch.pow(0.0, e),
                       exponent, device=device)
    compare_with_torch(lambda b: b ** 0, lambda b: b ** 0, base, device=device)


# ----- elementwise, unary ------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@given(x=arrays(SMALL))
def test_neg(device, x):
    check_op(elementwise.neg, torch.neg, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(x=arrays(SMALL))
def test_exp(device, x):
    check_op(elementwise.exp, torch.exp, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(x=arrays(SMALL, low=0.2, high=3.0))
def test_log(device, x):
    check_op(elementwise.log, torch.log, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(x=away_from_zero(SMALL))
def test_relu(device, x):
    check_op(elementwise.relu, torch.relu, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_relu_passes_nan_and_infinities_as_torch(device):
    # relu(nan) = nan with gradient 1 (PyTorch zeroes the gradient only where y ≤ 0);
    # relu(-inf) = 0 with gradient 0; relu(inf) = inf with gradient 1.
    x = np.array([np.nan, 1.0, -1.0, np.inf, -np.inf, 0.0])
    compare_with_torch(elementwise.relu, torch.relu, x, device=device)
    t = on(device, x[:3])
    elementwise.relu(t).backward(backend.to_device(np.ones(3), device))
    np.testing.assert_array_equal(host(t.grad), [1.0, 1.0, 0.0])


# ----- clamp -------------------------------------------------------------------------------

@st.composite
def clamp_case(draw):
    """x off the bounds; each bound None, a number or a tensor that broadcasts to x's shape
    (PyTorch's backward fails when a bound is the larger one)."""
    shape_a, shape_bound = draw(BROADCAST)
    shape_x = np.broadcast_shapes(shape_a, shape_bound)
    x = draw(grid(shape_x, 0.1))
    kinds = draw(st.sampled_from([("number", None), (None, "number"), ("number", "number"),
                                  ("tensor", None), (None, "tensor"), ("tensor", "tensor"),
                                  ("number", "tensor"), ("tensor", "number")]))
    bounds = []  # lo on the grid k/5, hi on k/5 + 0.05: never equal to x, nor to each other
    for kind, offset, shift in zip(kinds, (0.0, 0.05), (-1.2, 1.2)):
        if kind == "number":
            bounds.append(draw(st.sampled_from([offset, offset + shift])))
        elif kind == "tensor":
            bounds.append(draw(grid(shape_bound, offset + shift)))
        else:
            bounds.append(None)
    return x, bounds


@pytest.mark.parametrize("device", DEVICES)
@given(case=clamp_case())
def test_clamp(device, case):
    x, (low, high) = case
    tensors = [a for a in (low, high) if isinstance(a, np.ndarray)]

    def bounds(given, make):
        """The bounds as numbers, None, or the tensors passed in ``given``."""
        given = iter(given)
        return [next(given) if isinstance(a, np.ndarray) else make(a) for a in (low, high)]

    def ours(t, *given):
        lo, hi = bounds(given, lambda a: a)
        return elementwise.clamp(t, lo, hi)

    def theirs(t, *given):
        lo, hi = bounds(given, lambda a: None if a is None else torch.tensor(a, dtype=t.dtype))
        return torch.clamp(t, lo, hi)

    check_op(ours, theirs, x, *tensors, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_clamp_at_its_bounds_and_with_crossed_bounds_matches_torch(device):
    # At a bound the gradient passes to x (the bounds count as inside); with min > max
    # the output is max everywhere and max takes the whole gradient.
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan])
    compare_with_torch(lambda t: elementwise.clamp(t, 0.0, 1.0),
                       lambda t: torch.clamp(t, 0.0, 1.0), x, device=device)
    compare_with_torch(lambda t: elementwise.clamp(t, min=0.0),
                       lambda t: torch.clamp(t, min=0.0), x, device=device)
    compare_with_torch(lambda t: elementwise.clamp(t, max=1.0),
                       lambda t: torch.clamp(t, max=1.0), x, device=device)
    low = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])   # crossed at 0 (x below both) and 2
    high = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 1.0])
    compare_with_torch(elementwise.clamp, torch.clamp, x, low, high, device=device)


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="clamp: at least one of 'min' and 'max'"):
        elementwise.clamp(Tensor([1.0]))


# ----- reductions --------------------------------------------------------------------------

@st.composite
def dims_for(draw, ndim):
    """None, an int (possibly negative) or a non-empty tuple of distinct dims."""
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(d - ndim if draw(st.booleans()) else d for d in chosen)


def torch_dims(dim, ndim):
    return tuple(range(ndim)) if dim is None else dim


@st.composite
def reduction_case(draw, values=arrays):
    shape_ = draw(SMALL)
    return draw(values(shape_)), draw(dims_for(len(shape_))), draw(st.booleans())


REDUCTIONS = {  # minigrad function, PyTorch function of (tensor, dims, keepdim)
    "sum": (reduce.sum, lambda t, dims, keep: t.sum(dim=dims, keepdim=keep)),
    "mean": (reduce.mean, lambda t, dims, keep: t.mean(dim=dims, keepdim=keep)),
    "amax": (reduce.amax, lambda t, dims, keep: torch.amax(t, dim=dims, keepdim=keep)),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", sorted(REDUCTIONS))
@given(case=reduction_case(values=untied_arrays))
def test_reductions(op, device, case):
    x, dim, keepdim = case
    ours, theirs = REDUCTIONS[op]
    check_op(lambda t: ours(t, dim, keepdim),
             lambda t: theirs(t, torch_dims(dim, t.ndim), keepdim), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1, (0, 2), (2, 0), (-1, -3), (1, 2), (0, 1, 2), None, ()],
                         ids=lambda dim: repr(dim).replace(" ", ""))
@pytest.mark.parametrize("op", sorted(REDUCTIONS))
def test_reductions_chosen_dims(op, dim, keepdim, device):
    x = _untied((2, 3, 4))
    ours, theirs = REDUCTIONS[op]
    check_op(lambda t: ours(t, dim, keepdim), lambda t: theirs(t, torch_dims(dim, 3), keepdim),
             x, device=device)


def _untied(shape, seed=5):
    """Distinct values 0.1 apart in random order (no max ties)."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return ((rng.permutation(size) - size / 2) * 0.1).reshape(shape)


@pytest.mark.parametrize("device", DEVICES)
def test_reductions_default_to_every_dim(device):
    x = on(device, np.arange(6.0).reshape(2, 3))
    assert reduce.sum(x).shape == () and reduce.sum(x).item() == 15.0
    assert reduce.mean(x).item() == 2.5
    assert reduce.max(x).item() == 5.0 and reduce.amax(x).item() == 5.0
    assert reduce.sum(x, keepdim=True).shape == (1, 1)


@pytest.mark.parametrize("device", DEVICES)
@given(x=untied_arrays(SMALL), data=st.data())
def test_max_along_a_dim_gives_values_and_indices(device, x, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    keepdim = data.draw(st.booleans())
    check_op(lambda t: reduce.max(t, dim, keepdim).values,
             lambda t: torch.max(t, dim, keepdim).values, x, device=device)
    result = reduce.max(on(device, x), dim, keepdim)
    assert result.values is result[0] and result.indices is result[1]
    expected = torch.max(torch.tensor(x.copy()), dim, keepdim).indices
    np.testing.assert_array_equal(host(result.indices), expected)


@pytest.mark.parametrize("device", DEVICES)
@given(x=untied_arrays(SMALL))
def test_max_of_every_element(device, x):
    check_op(reduce.max, torch.max, x, device=device)


TIED = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0], [0.0, 3.0, 1.0, 3.0]])


@pytest.mark.parametrize("device", DEVICES)
def test_ties_split_the_gradient_as_torch(device):
    # amax and max() share a tied gradient evenly among the maxima; max(x, dim) gives it
    # all to the first maximum, whose index it returns.
    for dim in (None, 0, 1, (0, 1)):
        compare_with_torch(lambda t: reduce.amax(t, dim),
                           lambda t: torch.amax(t, torch_dims(dim, 2)), TIED, device=device)
    compare_with_torch(reduce.max, torch.max, TIED, device=device)
    for dim in (0, 1, -1):
        compare_with_torch(lambda t: reduce.max(t, dim).values,
                           lambda t: torch.max(t, dim).values, TIED, device=device)
        np.testing.assert_array_equal(host(reduce.max(on(device, TIED), dim).indices),
                                      torch.max(torch.tensor(TIED), dim).indices)
    x = on(device, TIED)
    reduce.max(x).backward()
    np.testing.assert_array_equal(host(x.grad) * 4, [[0, 1, 1, 0], [0, 0, 0, 0], [0, 1, 0, 1]])


# ----- zero-size dims, as PyTorch --------------------------------------------------------

EMPTY_CASES = {  # name: (ours, PyTorch's, input shapes)
    "sum over a zero-size dim": (lambda t: reduce.sum(t, 1), lambda t: t.sum(1), [(3, 0)]),
    "sum of nothing": (reduce.sum, torch.sum, [(0,)]),
    "mean over a zero-size dim": (lambda t: reduce.mean(t, 0), lambda t: t.mean(0), [(0, 2)]),
    "mean of nothing": (reduce.mean, torch.mean, [(2, 0, 3)]),
    "amax beside a zero-size dim": (lambda t: reduce.amax(t, 1), lambda t: torch.amax(t, 1),
                                    [(0, 3)]),
    "max beside a zero-size dim": (lambda t: reduce.max(t, -1).values,
                                   lambda t: torch.max(t, -1).values, [(2, 0, 3)]),
    "flatten a zero-size dim": (lambda t: shape.flatten(t, 1), lambda t: t.flatten(1),
                                [(2, 0, 3)]),
    "flatten into a zero-size dim": (lambda t: shape.flatten(t, 0, 1),
                                     lambda t: t.flatten(0, 1), [(2, 0, 3)]),
    "matmul, inner dim 0": (linalg.matmul, torch.matmul, [(2, 0), (0, 3)]),
    "matmul, outer dim 0": (linalg.matmul, torch.matmul, [(0, 2), (2, 3)]),
    "matmul, batch dim 0": (linalg.matmul, torch.matmul, [(0, 2, 2), (2,)]),
    "linear, N = 0": (linalg.linear, torch.nn.functional.linear, [(0, 3), (2, 3), (2,)]),
    "linear, no features": (linalg.linear, torch.nn.functional.linear, [(4, 0), (2, 0), (2,)]),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", sorted(EMPTY_CASES))
@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value")
def test_zero_size_dims_as_torch(case, device):
    ours, theirs, shapes_ = EMPTY_CASES[case]
    rng = np.random.default_rng(0)
    arrays_ = [rng.uniform(-1, 1, s) for s in shapes_]
    compare_with_torch(ours, theirs, *arrays_, device=device)
    compare_with_torch(ours, theirs, *[a.astype(np.float32) for a in arrays_], device=device)


@pytest.mark.parametrize("call, error, message", [
    (lambda x: reduce.amax(x, 0), ShapeError, r"amax: .*dim 0 of size 0 \(input shape \(0, 3\)\)"),
    (lambda x: reduce.amax(x), ShapeError, r"amax: .*dim 0 of size 0"),
    (lambda x: reduce.max(x), ShapeError, r"amax: .*dim 0 of size 0"),
    (lambda x: reduce.max(x, 0), ShapeError, r"max: .*dim 0 of size 0"),
    (lambda x: reduce.sum(x, 2), IndexError,
     r"sum: dim 2 is out of range .* 2 dims \(expected -2 to 1\)"),
    (lambda x: reduce.mean(x, (0, -2)), ValueError,
     r"mean: dim=\(0, -2\) names the same dim twice"),
    (lambda x: reduce.max(x, (0, 1)), TypeError, r"max: dim must be an int or None"),
    (lambda x: reduce.max(Tensor(1.0), 1), IndexError, r"max: dim 1 is out of range"),
    (lambda x: shape.flatten(x, 1, 0), ValueError, r"flatten: start_dim 1 comes after end_dim 0"),
    (lambda x: shape.transpose(x, 0, 3), IndexError, r"transpose: dim 3 is out of range"),
    (lambda x: shape.permute(x, 0, 0), ValueError, r"permute: dims \(0, 0\) are not a permutation"),
    (lambda x: shape.permute(x, 1), ValueError, r"permute: dims \(1,\) are not a permutation"),
])
def test_bad_dims_are_refused_naming_the_function(call, error, message):
    with pytest.raises(error, match=message):
        call(Tensor(np.zeros((0, 3))))


# ----- shape ops ---------------------------------------------------------------------------

@st.composite
def reshape_case(draw):
    """A shape and another shape with the same number of elements, maybe with a -1."""
    shape_ = draw(SMALL)
    size = int(np.prod(shape_))
    target, left = [], size
    for _ in range(draw(st.integers(0, 3))):
        divisors = [d for d in range(1, left + 1) if left % d == 0]
        d = draw(st.sampled_from(divisors))
        target.append(d)
        left //= d
    target.append(left)
    target = draw(st.permutations(target))
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return draw(arrays(shape_)), tuple(target)


@pytest.mark.parametrize("device", DEVICES)
@given(case=reshape_case(), spread=st.booleans())
def test_reshape(device, case, spread):
    x, target = case
    ours = (lambda t: shape.reshape(t, *target)) if spread else (lambda t: shape.reshape(t, target))
    check_op(ours, lambda t: t.reshape(target), x, device=device)


@st.composite
def permutation_case(draw):
    shape_ = draw(shapes(min_dims=1, max_dims=4, max_side=3))
    ndim = len(shape_)
    dims = draw(st.permutations(range(ndim)))
    dims = [d - ndim if draw(st.booleans()) else d for d in dims]
    return draw(arrays(shape_)), tuple(dims)


@pytest.mark.parametrize("device", DEVICES)
@given(case=permutation_case(), spread=st.booleans())
def test_permute(device, case, spread):
    x, dims = case
    ours = (lambda t: shape.permute(t, *dims)) if spread else (lambda t: shape.permute(t, dims))
    check_op(ours, lambda t: t.permute(dims), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dims", [(1, 2, 0), (2, 0, 1), (0, 2, 1), (-1, 0, -2), (1, 3, 0, 2),
                                  (3, 2, 0, 1)],
                         ids=lambda dims: repr(dims).replace(" ", ""))
def test_permutations_that_are_not_their_own_inverse(device, dims):
    shape_ = (2, 3, 4) if len(dims) == 3 else (2, 3, 1, 4)
    x = np.random.default_rng(7).uniform(-2, 2, shape_)
    check_op(lambda t: shape.permute(t, dims), lambda t: t.permute(dims), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(x=arrays(shapes(min_dims=1, max_dims=4, max_side=3)), data=st.data())
def test_transpose_swaps_two_dims(device, x, data):
    dim0, dim1 = (data.draw(st.integers(-x.ndim, x.ndim - 1)) for _ in range(2))
    check_op(lambda t: shape.transpose(t, dim0, dim1), lambda t: t.transpose(dim0, dim1), x,
             device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(x=arrays(shapes(min_dims=0, max_dims=4, min_side=0, max_side=3)), data=st.data())
def test_flatten(device, x, data):
    bound = max(x.ndim, 1)
    start, end = sorted(data.draw(st.integers(0, bound - 1)) for _ in range(2))
    start -= bound * data.draw(st.integers(0, 1))  # maybe counted from the end
    end -= bound * data.draw(st.integers(0, 1))
    check_op(lambda t: shape.flatten(t, start, end), lambda t: torch.flatten(t, start, end), x,
             device=device)
    if not start and end in (-1, bound - 1):  # the defaults
        check_op(shape.flatten, torch.flatten, x, device=device)


# ----- matmul and linear -------------------------------------------------------------------

@st.composite
def matmul_shapes(draw):
    """Each operand a vector (k,), a matrix or a batch of matrices; batch dims that broadcast."""
    batch_a, batch_b = draw(broadcastable_shapes(min_dims=0, max_dims=2, max_side=3))
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    shape_a = (k,) if draw(st.booleans()) else batch_a + (n, k)
    shape_b = (k,) if draw(st.booleans()) else batch_b + (k, m)
    return shape_a, shape_b


@pytest.mark.parametrize("device", DEVICES)
@given(shapes_=matmul_shapes(), data=st.data())
def test_matmul(device, shapes_, data):
    shape_a, shape_b = shapes_
    a, b = data.draw(arrays(shape_a)), data.draw(arrays(shape_b))
    check_op(linalg.matmul, torch.matmul, a, b, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape_a, shape_b", [
    ((3,), (3,)),               # vector · vector: a 0-d result
    ((2, 3), (3,)),             # matrix · vector
    ((3,), (3, 4)),             # vector · matrix
    ((5, 2, 3), (3,)),          # batch · vector
    ((3,), (2, 5, 3, 4)),       # vector · batch
    ((2, 3), (3, 4)),           # plain 2-D
    ((5, 2, 3), (5, 3, 4)),     # batched, same batch
    ((5, 2, 3), (3, 4)),        # batched times a matrix
    ((2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (4, 3, 2)),  # batch dims broadcast on both sides
    ((1, 2, 3), (4, 3, 1)),
    ((3, 2, 3), (1, 3, 4)),     # B's size-1 batch dim broadcast
    ((2, 1, 2, 3), (3, 3, 2)),  # B's missing dim and A's size-1 dim
])
def test_matmul_shape_patterns(device, shape_a, shape_b):
    rng = np.random.default_rng(len(shape_a) * 10 + len(shape_b))
    a, b = (in_layout(rng.uniform(-2, 2, s), "strided") for s in (shape_a, shape_b))
    check_op(linalg.matmul, torch.matmul, a, b, device=device)


@st.composite
def linear_case(draw):
    """x (*, in) with 0-2 leading dims, weight (out, in), maybe a bias (out,)."""
    leading = draw(shapes(min_dims=0, max_dims=2, max_side=3))
    features_in, features_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    inputs = [draw(arrays(leading + (features_in,))), draw(arrays((features_out, features_in)))]
    if draw(st.booleans()):
        inputs.append(draw(arrays((features_out,))))
    return inputs


@pytest.mark.parametrize("device", DEVICES)
@given(inputs=linear_case())
def test_linear(device, inputs):
    check_op(linalg.linear, torch.nn.functional.linear, *inputs, device=device)


@pytest.mark.parametrize("call, error, message", [
    (lambda a, b: linalg.matmul(a, b), TypeError,
     r"matmul: a is float64 but b is float32; expected the same dtype"),
    (lambda a, b: linalg.linear(a, b), TypeError,
     r"linear: input is float64 but weight is float32; expected the same dtype"),
    (lambda a, b: linalg.linear(b, b, a[0]), TypeError,
     r"linear: input is float32 but bias is float64"),
    (lambda a, b: linalg.matmul(a, Tensor(np.ones((4, 2)))), ShapeError,
     r"matmul: shapes \(2, 3\) and \(4, 2\) do not fit"),
    (lambda a, b: linalg.matmul(Tensor(np.ones((2, 2, 3))), Tensor(np.ones((3, 3, 1)))),
     ShapeError, r"matmul: shapes \(2, 2, 3\) and \(3, 3, 1\) do not fit"),
    (lambda a, b: linalg.matmul(a, Tensor(2.0)), ShapeError, r"matmul: both operands need"),
    (lambda a, b: linalg.linear(a, Tensor(np.ones(3))), ShapeError, r"linear: expected weight"),
    (lambda a, b: linalg.linear(a, Tensor(np.ones((2, 4)))), ShapeError,
     r"linear: expected 4 input features \(weight \(2, 4\)\), got input of shape \(2, 3\)"),
    (lambda a, b: linalg.linear(a, Tensor(np.ones((2, 3))), Tensor(np.ones(3))), ShapeError,
     r"linear: expected a bias of shape \(2,\)"),
])
def test_products_refuse_mixed_dtypes_and_shapes_that_do_not_fit(call, error, message):
    a = Tensor(np.ones((2, 3)))                       # float64
    b = Tensor(np.ones((3, 3)), dtype=np.float32)
    with pytest.raises(error, match=message):
        call(a, b)


# ----- indexing ----------------------------------------------------------------------------

@st.composite
def basic_part(draw, n):
    """One axis of length n: an int, a slice (any sign of step), or a full slice."""
    kind = draw(st.sampled_from(["int", "slice", "full"]))
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    if kind == "full":
        return slice(None)
    bound = st.one_of(st.none(), st.integers(-n - 1, n + 1))
    step = draw(st.sampled_from([None, 1, 2, 3, -1, -2]))
    return slice(draw(bound), draw(bound), step)


@st.composite
def with_none_and_ellipsis(draw, parts):
    """Maybe drop trailing parts, replace a run by Ellipsis, insert None."""
    parts, dropped = list(parts), draw(st.booleans())
    if dropped:
        parts = parts[:draw(st.integers(0, len(parts)))]
    if draw(st.booleans()):
        start = draw(st.integers(0, len(parts)))
        # After a dropped tail, the parts after an Ellipsis would fall on the wrong
        # (trailing) axes: there the Ellipsis may only replace the end.
        stop = len(parts) if dropped else draw(st.integers(start, len(parts)))
        parts[start:stop] = [Ellipsis]
    for _ in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), None)
    return tuple(parts)


@st.composite
def basic_index_case(draw):
    shape = draw(SMALL)
    parts = [draw(basic_part(n)) for n in shape]
    return draw(arrays(shape)), draw(with_none_and_ellipsis(parts))


@st.composite
def advanced_index_case(draw):
    """One or two integer-array indices (as lists, with repeated and negative
    entries), the other axes basic."""
    shape = draw(SMALL)
    ndim = len(shape)
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=min(2, ndim),
                           unique=True))
    index_shape = draw(st.sampled_from([(1,), (2,), (3,), (5,), (2, 2)]))
    parts = []
    for axis, n in enumerate(shape):
        if axis in chosen:
            values = draw(st.lists(st.integers(-n, n - 1), min_size=int(np.prod(index_shape)),
                                   max_size=int(np.prod(index_shape))))
            if len(values) > 1:
                values[-1] = values[0]  # a repeated index, whose gradients must add up
            parts.append(np.array(values).reshape(index_shape).tolist())
        else:
            parts.append(draw(basic_part(n)))
    return draw(arrays(shape)), tuple(parts)


def numpy_index(index):
    """The index with lists as integer arrays, as NumPy reads them."""
    return tuple(np.array(p) if isinstance(p, list) else p for p in index)


def torch_getitem(index, shape):
    """x[index] in PyTorch, with NumPy's indexing rules (PyTorch has no negative
    steps): gather from the flat tensor the element numbers NumPy picks."""
    picked = np.arange(int(np.prod(shape))).reshape(shape)[numpy_index(index)]
    if np.ndim(picked) == 0:
        return lambda t: t.reshape(-1)[int(picked)]
    picked = torch.as_tensor(picked.copy())  # fresh strides (torch refuses negative ones)
    return lambda t: t.reshape(-1)[picked]


@pytest.mark.parametrize("device", DEVICES)
@given(case=basic_index_case())
def test_getitem_basic(device, case):
    x, index = case
    out = on(device, x)[index]
    np.testing.assert_array_equal(host(out), x[index])
    check_op(lambda t: t[index], torch_getitem(index, x.shape), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(case=advanced_index_case())
def test_getitem_integer_arrays(device, case):
    x, index = case
    out = on(device, x)[index]
    np.testing.assert_array_equal(host(out), x[numpy_index(index)])
    check_op(lambda t: t[index], torch_getitem(index, x.shape), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("index", [
    [0, 0, 2, 0],                              # a lone list: repeated rows
    (slice(None), [1, 1, -1]),                 # repeated columns, negative index
    ([2, 0, 2], [1, 1, 1]),                    # two arrays; (2, 1) picked twice
    ([[0, 0], [1, 0]], slice(None, None, -1)),
    (Ellipsis, [3, 3]),
    (None, [1, 1], None, slice(3, 0, -2)),
    (slice(None, None, -1), slice(None, None, -2)),
    (-1, slice(None, 1, -1)),
    (1, 2),                                    # a 0-d result
    (slice(None), None, Ellipsis),
], ids=lambda index: repr(index).replace(" ", "").replace("slice", "s"))
def test_getitem_chosen_indices(device, index):
    x = np.random.default_rng(3).uniform(-2, 2, (3, 4))
    np_index = np.array(index) if isinstance(index, list) else numpy_index(index)
    np.testing.assert_array_equal(host(on(device, x)[index]), x[np_index])
    torch_fn = (lambda t: t[torch.tensor(index)]) if isinstance(index, list) \
        else torch_getitem(index, x.shape)
    check_op(lambda t: t[index], torch_fn, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_getitem_with_a_tensor_index_accumulates(device):
    x = on(device, np.array([1.0, 2.0, 3.0]))
    index = Tensor(np.array([2, 2, 0, 2]), device=device)
    x[index].sum().backward()
    np.testing.assert_array_equal(host(x.grad), [1.0, 0.0, 3.0])


def test_getitem_with_a_numpy_index_array_on_cpu():
    x = on("cpu", np.arange(4.0))
    x[np.array([3, 3, 1])].sum().backward()
    np.testing.assert_array_equal(host(x.grad), [0.0, 1.0, 0.0, 2.0])


# ----- dtype: float32 stays float32, float64 stays float64 --------------------------------

DTYPE_CASES = {
    "add_scalar": lambda x, y, m: x + 1,
    "radd_scalar": lambda x, y, m: 1.5 + x,
    "sub_scalar": lambda x, y, m: x - 2.5,
    "rsub_scalar": lambda x, y, m: 2 - x,
    "mul_scalar": lambda x, y, m: x * 0.1,
    "rmul_scalar": lambda x, y, m: 3 * x,
    "div_scalar": lambda x, y, m: x / 3,
    "rdiv_scalar": lambda x, y, m: 3.0 / x,
    "pow_int": lambda x, y, m: x ** 2,
    "pow_float": lambda x, y, m: x ** 0.5,
    "pow_negative": lambda x, y, m: x ** -1.5,
    "pow_numpy_scalar": lambda x, y, m: x ** np.float64(0.5),  # a float subclass
    "pow_tensor": lambda x, y, m: elementwise.pow(x, y),
    "pow_number_base": lambda x, y, m: elementwise.pow(2.0, x),
    "add": lambda x, y, m: x + y,
    "sub": lambda x, y, m: x - y,
    "mul": lambda x, y, m: x * y,
    "div": lambda x, y, m: x / y,
    "neg": lambda x, y, m: -x,
    "exp": lambda x, y, m: elementwise.exp(x),
    "log": lambda x, y, m: elementwise.log(x),
    "relu": lambda x, y, m: elementwise.relu(x - 1.0),
    "maximum": lambda x, y, m: elementwise.maximum(x, y),
    "minimum": lambda x, y, m: elementwise.minimum(x, y),
    "clamp": lambda x, y, m: elementwise.clamp(x, 0.8, np.float64(1.5)),
    "clamp_tensors": lambda x, y, m: elementwise.clamp(x, y, None),
    "matmul": lambda x, y, m: x @ m,
    "matmul_vector": lambda x, y, m: linalg.matmul(x, m[0, :, 0]),
    "linear": lambda x, y, m: linalg.linear(x, shape.permute(m[0], 1, 0), m[0, 0]),
    "sum": lambda x, y, m: reduce.sum(x),
    "sum_dim": lambda x, y, m: reduce.sum(x, 1, True),
    "mean": lambda x, y, m: reduce.mean(x),
    "mean_dim": lambda x, y, m: reduce.mean(x, (0, 2)),
    "amax": lambda x, y, m: reduce.amax(x, -1),
    "max": lambda x, y, m: reduce.max(x),
    "max_dim": lambda x, y, m: reduce.max(x, 1).values,
    "reshape": lambda x, y, m: shape.reshape(x, 6, -1),
    "permute": lambda x, y, m: shape.permute(x, 2, 0, 1),
    "transpose": lambda x, y, m: shape.transpose(x, 0, 2),
    "flatten": lambda x, y, m: shape.flatten(x, 1),
    "getitem_basic": lambda x, y, m: x[:, ::-1, 1],
    "getitem_array": lambda x, y, m: x[[0, 0, 1], :, [2, 2, 0]],
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(DTYPE_CASES))
def test_ops_keep_the_dtype(case, dtype, device):
    rng = np.random.default_rng(1)
    x = Tensor(rng.uniform(0.5, 2.0, (2, 3, 4)).astype(dtype), requires_grad=True, device=device)
    y = Tensor(rng.uniform(0.5, 2.0, (3, 1)).astype(dtype), requires_grad=True, device=device)
    m = Tensor(rng.uniform(-1, 1, (1, 4, 2)).astype(dtype), requires_grad=True, device=device)
    out = DTYPE_CASES[case](x, y, m)
    assert out.dtype == dtype, f"{case}: forward gives {out.dtype}"
    assert out.device == device
    # The op's own backward, before the leaf casts anything:
    xp = backend.module_for(device)
    grads = out._fn.backward(xp.ones(out.shape, dtype=dtype))
    for i, grad in enumerate(grads):
        if grad is not None:
            assert grad.dtype == dtype, f"{case}: backward gives {grad.dtype} for input {i}"
            assert backend.device_of(grad) == device


# ----- every op states its math ------------------------------------------------------------

FUNCTIONS = [cls for module in (elementwise, reduce, shape, linalg) for cls in vars(module).values()
             if inspect.isclass(cls) and issubclass(cls, Function)
             and cls.__module__ == module.__name__]


@pytest.mark.parametrize("cls", FUNCTIONS, ids=lambda cls: cls.__name__)
def test_every_function_docstring_opens_with_its_math(cls):
    # "y = f(x).   dy/dx = ..." : the output, then a local derivative or gradient.
    first_line = (cls.__doc__ or "").split("\n")[0]
    assert re.match(r"\w+ = .+\.\s+d\w*(/d\w+)? = ", first_line), first_line


def test_the_op_functions_do_not_share_a_name_with_a_layer():
    names = {cls.__name__ for cls in FUNCTIONS}
    assert {"Rectifier", "Affine"} <= names and not names & {"ReLU", "Linear", "MaxPool2d"}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dim", [0, -1])
def test_a_0d_tensor_takes_dim_0_and_minus_1_as_torch(device, dim):
    """PyTorch lets a 0-d tensor stand for one element along dim 0 (or -1): max gives
    (x, 0), transpose gives x, log_softmax gives 0 (gradient 0)."""
    from minigrad.ops import loss
    x = np.array(1.75)
    check_op(lambda t: reduce.max(t, dim).values, lambda t: torch.max(t, dim).values, x,
             device=device)
    assert host(reduce.max(on(device, x), dim).indices) == 0
    assert reduce.max(on(device, x), dim).indices.shape == ()
    check_op(lambda t: shape.transpose(t, dim, 0), lambda t: t.transpose(dim, 0), x,
             device=device)
    check_op(lambda t: loss.log_softmax(t, dim), lambda t: torch.log_softmax(t, dim), x,
             device=device)
    with pytest.raises(IndexError, match="max: dim 1 is out of range"):
        reduce.max(on(device, x), 1)
