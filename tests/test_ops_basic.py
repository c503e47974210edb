"""Every basic op, checked three ways on both devices:

(a) backward against float64 central differences (``gradcheck``, random upstream gradient);
(b) values and gradients against PyTorch in float64, with tight tolerances;
(c) the same in float32, with compare_with_torch's float32 defaults.

Shapes and values come from hypothesis; inputs are kept off kinks (ReLU at 0),
ties (max) and the poles of log, division and negative powers.
"""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minigrad.functional as F
from minigrad import Tensor, backend
from minigrad.testing import compare_with_torch, gradcheck
from minigrad.testing.strategies import (
    arrays, away_from_zero, broadcastable_shapes, shapes, untied_arrays)
from helpers import DEVICES, host, on

SMALL = shapes(min_dims=1, max_dims=3, max_side=4)
BROADCAST = broadcastable_shapes(min_dims=0, max_dims=3, max_side=3)


def check_op(fn, torch_fn, *arrays_, device):
    """Output shape as PyTorch's, gradcheck in float64, then PyTorch in float64 and float32."""
    arrays64 = [np.asarray(a, dtype=np.float64) for a in arrays_]
    shape = fn(*[Tensor(a, device=device) for a in arrays64]).shape
    assert shape == tuple(torch_fn(*[torch.tensor(a) for a in arrays64]).shape)
    gradcheck(fn, *[Tensor(a, requires_grad=True, device=device) for a in arrays64])
    compare_with_torch(fn, torch_fn, *arrays64, device=device)
    compare_with_torch(fn, torch_fn, *[a.astype(np.float32) for a in arrays64], device=device)


# ----- elementwise, binary, with broadcasting ----------------------------------------------

BINARY = {
    "add": (F.add, torch.add),
    "sub": (F.sub, torch.sub),
    "mul": (F.mul, torch.mul),
    "div": (F.div, torch.div),
}


@st.composite
def binary_inputs(draw, op):
    shape_a, shape_b = draw(BROADCAST)
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
    a = rng.uniform(-2, 2, shape_a)
    b = rng.uniform(0.5, 2, shape_b) * rng.choice([-1, 1], shape_b)
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
    x = Tensor(a, requires_grad=True, device=device)
    c = Tensor(b, device=device)
    out = fn(x, c)
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(backend.to_device(upstream, device))
    xt = torch.tensor(a, requires_grad=True)
    torch_fn(xt, torch.tensor(b)).backward(torch.tensor(upstream))
    np.testing.assert_allclose(host(x.grad), xt.grad.numpy(), rtol=1e-7, atol=1e-9)
    assert c.grad is None
    # and the other way round
    y = Tensor(b, requires_grad=True, device=device)
    out = fn(Tensor(a, device=device), y)
    out.backward(backend.to_device(upstream, device))
    yt = torch.tensor(b, requires_grad=True)
    torch_fn(torch.tensor(a), yt).backward(torch.tensor(upstream))
    np.testing.assert_allclose(host(y.grad), yt.grad.numpy(), rtol=1e-7, atol=1e-9)


# ----- elementwise, unary ------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@given(x=arrays(SMALL))
def test_neg(device, x):
    check_op(F.neg, torch.neg, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(x=arrays(SMALL))
def test_exp(device, x):
    check_op(F.exp, torch.exp, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(x=arrays(SMALL, low=0.2, high=3.0))
def test_log(device, x):
    check_op(F.log, torch.log, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(x=away_from_zero(SMALL))
def test_relu(device, x):
    check_op(F.relu, torch.relu, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_relu_of_infinities(device):
    # relu(-inf) = 0, not -inf * 0 = nan; relu(inf) = inf.
    compare_with_torch(F.relu, torch.relu, np.array([-np.inf, -1.0, 2.0, np.inf]), device=device)


@given(x=away_from_zero(SMALL, margin=0.25))
def test_away_from_zero_accepts_a_shape_strategy(x):
    # strategies.arrays takes a shape or a strategy of shapes; away_from_zero
    # hands its `shape` on to arrays twice, so it must draw the shape once.
    assert np.all(np.abs(x) >= 0.25)


INTEGER_EXPONENTS = [0, 1, 2, 3, -1, -2]
FRACTIONAL_EXPONENTS = [0.5, 1.5, -0.5, 2.5, -1.5]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("exponent", INTEGER_EXPONENTS)
@given(x=away_from_zero(SMALL, margin=0.3))
def test_pow_integer_exponent_any_sign_base(device, exponent, x):
    check_op(lambda t: F.pow(t, exponent), lambda t: t ** exponent, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("exponent", FRACTIONAL_EXPONENTS)
@given(x=arrays(SMALL, low=0.3, high=2.0))
def test_pow_fractional_exponent_positive_base(device, exponent, x):
    check_op(lambda t: t ** exponent, lambda t: t ** exponent, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_pow_zero_exponent_has_zero_gradient_everywhere(device):
    # d(x⁰)/dx = 0, also at x = 0 (PyTorch gives 0 there, not NaN).
    compare_with_torch(lambda t: t ** 0, lambda t: t ** 0, np.array([-1.0, 0.0, 2.0]),
                       device=device)


def test_pow_rejects_a_tensor_exponent():
    with pytest.raises(TypeError, match="exponent"):
        F.pow(Tensor([1.0]), Tensor([2.0]))


# ----- matmul ------------------------------------------------------------------------------

@st.composite
def matmul_shapes(draw):
    """(..., m, k) and (..., k, n) with batch axes that broadcast (possibly none)."""
    batch_a, batch_b = draw(broadcastable_shapes(min_dims=0, max_dims=2, max_side=3))
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    return batch_a + (m, k), batch_b + (k, n)


@pytest.mark.parametrize("device", DEVICES)
@given(shapes_=matmul_shapes(), data=st.data())
def test_matmul(device, shapes_, data):
    shape_a, shape_b = shapes_
    a, b = data.draw(arrays(shape_a)), data.draw(arrays(shape_b))
    check_op(F.matmul, torch.matmul, a, b, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape_a, shape_b", [
    ((2, 3), (3, 4)),           # plain 2-D
    ((5, 2, 3), (5, 3, 4)),     # batched, same batch
    ((5, 2, 3), (3, 4)),        # batched times a matrix
    ((2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (4, 3, 2)),  # batch axes broadcast on both sides
    ((1, 2, 3), (4, 3, 1)),
    ((3, 2, 3), (1, 3, 4)),     # B's size-1 batch axis broadcast
    ((2, 1, 2, 3), (3, 3, 2)),  # B's missing axis and A's size-1 axis
])
def test_matmul_batch_patterns(device, shape_a, shape_b):
    rng = np.random.default_rng(len(shape_a) * 10 + len(shape_b))
    check_op(F.matmul, torch.matmul, rng.uniform(-2, 2, shape_a), rng.uniform(-2, 2, shape_b),
             device=device)


def test_matmul_shape_mismatch_is_a_shape_error():
    from minigrad import ShapeError
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(4, 2\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 2)))


# ----- reductions --------------------------------------------------------------------------

@st.composite
def axes_for(draw, ndim):
    """None, an int (possibly negative) or a non-empty tuple of distinct axes."""
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in chosen)


def torch_dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


@st.composite
def reduction_case(draw, values=arrays):
    shape = draw(SMALL)
    return draw(values(shape)), draw(axes_for(len(shape))), draw(st.booleans())


@pytest.mark.parametrize("device", DEVICES)
@given(case=reduction_case())
def test_sum(device, case):
    x, axis, keepdims = case
    check_op(lambda t: F.sum(t, axis, keepdims),
             lambda t: t.sum(dim=torch_dims(axis, t.ndim), keepdim=keepdims), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(case=reduction_case())
def test_mean(device, case):
    x, axis, keepdims = case
    check_op(lambda t: t.mean(axis, keepdims),
             lambda t: t.mean(dim=torch_dims(axis, t.ndim), keepdim=keepdims), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(case=reduction_case(values=untied_arrays))
def test_max(device, case):
    x, axis, keepdims = case
    check_op(lambda t: F.max(t, axis, keepdims),
             lambda t: torch.amax(t, dim=torch_dims(axis, t.ndim), keepdim=keepdims), x,
             device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1, (0, 2), (2, 0), (-1, -3), (1, 2), (0, 1, 2), None],
                         ids=lambda axis: repr(axis).replace(" ", ""))
@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_reductions_chosen_axes(op, axis, keepdims, device):
    x = _untied((2, 3, 4))
    dims = torch_dims(axis, 3)
    ours = {"sum": F.sum, "mean": F.mean, "max": F.max}[op]
    theirs = {"sum": lambda t: t.sum(dim=dims, keepdim=keepdims),
              "mean": lambda t: t.mean(dim=dims, keepdim=keepdims),
              "max": lambda t: torch.amax(t, dim=dims, keepdim=keepdims)}[op]
    check_op(lambda t: ours(t, axis, keepdims), theirs, x, device=device)


def _untied(shape, seed=5):
    """Distinct values 0.1 apart in random order (no max ties)."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return ((rng.permutation(size) - size / 2) * 0.1).reshape(shape)


@pytest.mark.parametrize("device", DEVICES)
def test_reductions_default_to_all_axes(device):
    values = np.arange(6.0).reshape(2, 3)
    x = on(device, values)
    assert x.sum().shape == () and x.sum().item() == 15.0
    assert x.mean().item() == 2.5
    assert x.max().item() == 5.0
    assert x.sum(keepdims=True).shape == (1, 1)


@pytest.mark.parametrize("device", DEVICES)
def test_max_tie_sends_the_gradient_to_the_first_maximum(device):
    x = on(device, np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]))
    F.max(x, axis=1).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [[0, 1, 0], [1, 0, 0]])
    y = on(device, np.array([[3.0, 1.0], [0.0, 3.0]]))
    F.max(y).backward()  # row-major first over all axes
    np.testing.assert_array_equal(host(y.grad), [[1, 0], [0, 0]])


# ----- shape ops ---------------------------------------------------------------------------

@st.composite
def reshape_case(draw):
    """A shape and another shape with the same number of elements, maybe with a -1."""
    shape = draw(SMALL)
    size = int(np.prod(shape))
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
    return draw(arrays(shape)), tuple(target)


@pytest.mark.parametrize("device", DEVICES)
@given(case=reshape_case(), spread=st.booleans())
def test_reshape(device, case, spread):
    x, target = case
    ours = (lambda t: t.reshape(*target)) if spread else (lambda t: F.reshape(t, target))
    check_op(ours, lambda t: t.reshape(target), x, device=device)


@st.composite
def permutation_case(draw):
    shape = draw(shapes(min_dims=1, max_dims=4, max_side=3))
    ndim = len(shape)
    if draw(st.booleans()):
        return draw(arrays(shape)), None
    axes = draw(st.permutations(range(ndim)))
    axes = [a - ndim if draw(st.booleans()) else a for a in axes]
    return draw(arrays(shape)), tuple(axes)


@pytest.mark.parametrize("device", DEVICES)
@given(case=permutation_case())
def test_transpose(device, case):
    x, axes = case
    if axes is None:
        ours, theirs = F.transpose, (lambda t: t.permute(*reversed(range(t.ndim))))
    else:
        ours, theirs = (lambda t: F.transpose(t, axes)), (lambda t: t.permute(axes))
    check_op(ours, theirs, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("axes", [(1, 2, 0), (2, 0, 1), (0, 2, 1), (-1, 0, -2), (1, 3, 0, 2), (3, 2, 0, 1)],
                         ids=lambda axes: repr(axes).replace(" ", ""))
def test_transpose_permutations_that_are_not_their_own_inverse(device, axes):
    shape = (2, 3, 4) if len(axes) == 3 else (2, 3, 1, 4)
    x = np.random.default_rng(7).uniform(-2, 2, shape)
    check_op(lambda t: F.transpose(t, axes), lambda t: t.permute(axes), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(case=permutation_case())
def test_permute_method(device, case):
    x, axes = case
    axes = tuple(range(x.ndim))[::-1] if axes is None else axes
    check_op(lambda t: t.permute(*axes), lambda t: t.permute(axes), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(x=arrays(shapes(min_dims=1, max_dims=4, max_side=3)), data=st.data())
def test_flatten(device, x, data):
    start = data.draw(st.integers(-x.ndim, x.ndim - 1))
    check_op(lambda t: F.flatten(t, start), lambda t: torch.flatten(t, start), x, device=device)


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
    parts = list(parts)
    parts = parts[:draw(st.integers(0, len(parts)))] if draw(st.booleans()) else parts
    if draw(st.booleans()):
        start = draw(st.integers(0, len(parts)))
        stop = draw(st.integers(start, len(parts)))
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
    "add": lambda x, y, m: x + y,
    "sub": lambda x, y, m: x - y,
    "mul": lambda x, y, m: x * y,
    "div": lambda x, y, m: x / y,
    "neg": lambda x, y, m: -x,
    "exp": lambda x, y, m: x.exp(),
    "log": lambda x, y, m: x.log(),
    "relu": lambda x, y, m: (x - 1.0).relu(),
    "matmul": lambda x, y, m: x @ m,
    "sum": lambda x, y, m: x.sum(),
    "sum_axis": lambda x, y, m: x.sum(axis=1, keepdims=True),
    "mean": lambda x, y, m: x.mean(),
    "mean_axis": lambda x, y, m: x.mean(axis=(0, 2)),
    "max": lambda x, y, m: x.max(axis=-1),
    "reshape": lambda x, y, m: x.reshape(6, -1),
    "transpose": lambda x, y, m: x.transpose(2, 0, 1),
    "flatten": lambda x, y, m: x.flatten(1),
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
