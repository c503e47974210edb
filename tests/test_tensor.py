"""The tape and the Tensor API: what a PyTorch user expects to hold.

Every test that touches data runs on the CPU and on the 'gpu' (CuPy, or the
CPU stand-in for it that refuses NumPy, see conftest).
"""
import gc
import importlib
import inspect
import weakref

import numpy as np
import pytest
from helpers import DEVICES, host, on

import minigrad
from minigrad import Tensor, backend, is_grad_enabled, no_grad
from minigrad.testing import compare_with_torch

TAPE = importlib.import_module("minigrad.autograd")  # the tape: Function, backward, no_grad


def xp_for(device):
    return backend.module_for(device)


def seed_like(tensor, value=1.0):
    """An upstream gradient for ``tensor``, on its device and of its dtype."""
    xp = xp_for(tensor.device)
    return xp.full(tensor.shape, value, dtype=tensor.dtype)


# ----- the tape: reuse, accumulation, long chains, release --------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_a_node_used_twice_gets_both_gradients(device):
    values = np.array([-1.5, 0.5, 2.0, 3.0])
    x = on(device, values)
    y = x * x
    z = y + y
    z.backward(seed_like(z))
    np.testing.assert_allclose(host(x.grad), 4 * values, rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_one_tensor_as_both_inputs_of_an_op(device):
    values = np.array([[1.0, -2.0], [0.5, 4.0]])
    x = on(device, values)
    (x + x).sum().backward()
    np.testing.assert_allclose(host(x.grad), np.full((2, 2), 2.0))
    x.zero_grad()
    (x * x).sum().backward()
    np.testing.assert_allclose(host(x.grad), 2 * values, rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_diamond_graph_sums_both_paths(device):
    # c = a + b with a = 2x and b = 3a: dc/dx = 2 + 6 = 8, and a must be
    # finished (both users done) before its gradient flows on to x.
    x = on(device, np.array([1.0, 2.0, 3.0]))
    a = x * 2
    b = a * 3
    c = (a + b) * (a - 1) + b
    c.backward(seed_like(c))
    a_val = 2 * np.array([1.0, 2.0, 3.0])
    # c = 4a(a - 1) + 3a, dc/da = 8a - 4 + 3, dc/dx = 2 * dc/da
    np.testing.assert_allclose(host(x.grad), 2 * (8 * a_val - 1), rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_gradients_accumulate_into_leaves_across_backward_calls(device):
    values = np.array([1.0, -2.0, 0.5])
    x = on(device, values)
    (x * x).sum().backward()
    np.testing.assert_allclose(host(x.grad), 2 * values, rtol=1e-6)
    (x * 3).sum().backward()  # a new graph on the same leaf
    np.testing.assert_allclose(host(x.grad), 2 * values + 3, rtol=1e-6)
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_allclose(host(x.grad), np.full(3, 3.0), rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_ten_thousand_op_chain_backward_without_recursion_error(device):
    steps = 10_000
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True, device=device)  # float64
    y = x
    for _ in range(steps):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(host(x.grad), np.full(2, 1.0001 ** steps), rtol=1e-9)
    np.testing.assert_allclose(host(y), np.array([1.0, 2.0]) * 1.0001 ** steps, rtol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
def test_backward_releases_the_graph(device):
    x = on(device, np.array([1.0, 2.0]))
    y = x * 3
    out = (y + 1).sum()
    assert not out.grad_fn.released and not y.grad_fn.released
    out.backward()
    assert out.grad_fn.released and y.grad_fn.released
    np.testing.assert_array_equal(host(x.grad), [3.0, 3.0])


@pytest.mark.parametrize("device", DEVICES)
def test_grad_fn_and_the_tape_it_records(device):
    x, w = on(device, np.ones((2, 3))), on(device, np.ones(3))
    constant = on(device, np.ones((2, 3)), requires_grad=False)
    y = x * w
    s = y + constant
    z = s.sum()
    assert x.grad_fn is None and x.is_leaf and not z.is_leaf
    assert type(y.grad_fn).__name__ == "Mul" and type(z.grad_fn).__name__ == "Sum"
    assert z.grad_fn.parents[0] is s.grad_fn          # an op's input made by an op
    assert s.grad_fn.parents[0] is y.grad_fn and s.grad_fn.parents[1] is None  # a constant
    assert y.grad_fn.parents[0] is x and y.grad_fn.parents[1] is w  # leaves themselves
    assert y.grad_fn.input_shapes == [(2, 3), (3,)]
    with pytest.raises(AttributeError):
        y.grad_fn = None  # read-only, as in PyTorch


@pytest.mark.parametrize("device", DEVICES)
def test_leaf_gradients_never_share_an_array(device):
    # Add hands its gradient to both inputs as one array; a seed is the caller's.
    # Each leaf's .grad must be its own array, or the next backward corrupts them.
    xp = xp_for(device)
    a, b = on(device, np.array([1.0, 2.0])), on(device, np.array([3.0, 4.0]))
    seed = xp.ones(2)
    (a + b).backward(seed)
    for first, second in [(a.grad, b.grad), (a.grad, seed), (b.grad, seed)]:
        assert not xp.shares_memory(first, second)
    (a + b).backward(seed)
    np.testing.assert_array_equal(host(a.grad), [2.0, 2.0])
    np.testing.assert_array_equal(host(b.grad), [2.0, 2.0])
    np.testing.assert_array_equal(host(seed), [1.0, 1.0])
    seed[...] = 7.0
    np.testing.assert_array_equal(host(a.grad), [2.0, 2.0])
    leaf = on(device, np.array([5.0, 6.0]))
    leaf.backward(seed)  # a leaf as the root: its gradient is a copy of the seed
    assert not xp.shares_memory(leaf.grad, seed)
    leaf.backward(seed)
    np.testing.assert_array_equal(host(leaf.grad), [14.0, 14.0])
    np.testing.assert_array_equal(host(seed), [7.0, 7.0])


def test_backward_frees_what_forward_saved():
    # Exp saves its output for backward; once backward has run, nothing may
    # keep that array alive (the tensor holding it is gone).
    x = on("cpu", np.array([1.0, 2.0]))
    e = (x * 2).exp()
    saved = weakref.ref(e.data)
    out = e.sum()
    del e
    gc.collect()
    assert saved() is not None  # still needed by backward
    out.backward()
    gc.collect()
    assert saved() is None
    np.testing.assert_allclose(host(x.grad), 2 * np.exp([2.0, 4.0]), rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_backward_through_a_released_graph_raises_and_adds_nothing(device):
    # Two losses share h. The first backward releases h's op; the second must
    # raise (as PyTorch does) before any leaf receives a partial gradient.
    x = on(device, np.array([1.0, 2.0]))
    h = x * 3
    first, second = (h * 2).sum(), (h * 5).sum()
    first.backward()
    np.testing.assert_array_equal(host(x.grad), [6.0, 6.0])
    with pytest.raises(RuntimeError, match="released.*retain_graph=True"):
        second.backward()
    np.testing.assert_array_equal(host(x.grad), [6.0, 6.0])


@pytest.mark.parametrize("device", DEVICES)
def test_second_backward_on_the_same_output_raises(device):
    x = on(device, np.array([1.0, 2.0]))
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="released.*retain_graph=True"):
        y.backward()
    np.testing.assert_array_equal(host(x.grad), [2.0, 4.0])


@pytest.mark.parametrize("device", DEVICES)
def test_retain_graph_keeps_the_graph_for_a_second_backward(device):
    values = np.array([1.0, -2.0, 0.5])
    x = on(device, values)
    h = x * x
    first, second = (h * 2).sum(), (h * 5).sum()
    first.backward(retain_graph=True)
    assert not first.grad_fn.released and not h.grad_fn.released
    second.backward()  # h's op is still there: x gets 2·2x + 5·2x, as in PyTorch
    np.testing.assert_allclose(host(x.grad), 14 * values, rtol=1e-12)
    assert second.grad_fn.released and h.grad_fn.released
    with pytest.raises(RuntimeError, match="released"):
        first.backward()  # second released the shared part
    y = (x * 3).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(host(x.grad), 14 * values + 9, rtol=1e-12)


def test_retain_graph_matches_torch():
    torch = pytest.importorskip("torch")
    values = np.array([0.5, -1.5, 2.0])
    x, t = on("cpu", values), torch.tensor(values, requires_grad=True)
    for leaf in (x, t):
        h = (leaf * leaf).exp()
        (h * 2).sum().backward(retain_graph=True)
        (h * -3).sum().backward(retain_graph=True)
        h.sum().backward()
    np.testing.assert_allclose(host(x.grad), t.grad.numpy(), rtol=1e-12)


def test_leaves_and_intermediates():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf
    assert y.requires_grad
    constant = Tensor([1.0, 2.0])
    assert not (constant * 2).requires_grad
    assert (constant * x).requires_grad


# ----- backward's contract -----------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_non_scalar_backward_without_seed_raises(device):
    y = on(device, np.ones((2, 3))) * 2
    with pytest.raises(RuntimeError, match="explicit gradient"):
        y.backward()


@pytest.mark.parametrize("device", DEVICES)
def test_single_element_tensor_needs_no_seed(device):
    x = on(device, np.array([[3.0]]))
    (x * x).backward()
    np.testing.assert_allclose(host(x.grad), [[6.0]])


@pytest.mark.parametrize("device", DEVICES)
def test_backward_with_a_seed_of_the_wrong_shape_raises(device):
    y = on(device, np.ones((2, 3))) * 2
    xp = xp_for(device)
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        y.backward(xp.ones((3, 2), dtype=np.float32))
    with pytest.raises(ValueError):
        y.backward(xp.ones((6,), dtype=np.float32))


@pytest.mark.parametrize("device", DEVICES)
def test_backward_accepts_a_tensor_seed(device):
    x = on(device, np.array([1.0, 2.0]))
    y = x * 5
    y.backward(Tensor(np.array([1.0, -1.0], dtype=np.float32), device=device))
    np.testing.assert_allclose(host(x.grad), [5.0, -5.0])


def test_backward_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


# ----- no_grad and detach ----------------------------------------------------------------

@pytest.fixture
def grad_mode(monkeypatch):
    """Put grad mode back after the test even if no_grad forgot to (it is global)."""
    monkeypatch.setattr(TAPE, "_grad_enabled", True)

@pytest.mark.parametrize("device", DEVICES)
def test_no_grad_context_records_nothing(device, grad_mode):
    x = on(device, np.array([1.0, 2.0]))
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2 + 1).sum()
    assert is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    z = x * 2  # recording is back on
    assert z.requires_grad and z.grad_fn is not None


@pytest.mark.parametrize("device", DEVICES)
def test_no_grad_decorator_records_nothing(device, grad_mode):
    @no_grad()
    def step(t):
        assert not is_grad_enabled()
        return (t * t).sum()

    x = on(device, np.array([1.0, 2.0]))
    y = step(x)
    assert is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None


def test_no_grad_restores_state_after_an_exception(grad_mode):
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("boom")
    assert is_grad_enabled()


def test_nested_no_grad_restores_the_outer_state(grad_mode):
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_no_grad_decorator_is_reentrant(grad_mode):
    # A decorated function that calls itself: the outer call must still restore
    # the state that was in force before it (grad enabled).
    @no_grad()
    def depth(n):
        assert not is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(3) == 3
    assert is_grad_enabled()


@pytest.mark.parametrize("device", DEVICES)
def test_detach_cuts_the_graph_and_shares_data(device):
    values = np.array([1.0, -2.0, 3.0])
    x = on(device, values)
    d = (x * 1).detach()
    assert not d.requires_grad and d.grad_fn is None
    np.testing.assert_array_equal(host(d), values)
    # d is a constant: d(x * d)/dx = d, not 2x
    (x * d).sum().backward()
    np.testing.assert_allclose(host(x.grad), values)
    assert x.detach().data is x.data


# ----- reading a tensor --------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_item(device):
    value = on(device, np.array([[2.5]])).item()
    assert value == 2.5 and isinstance(value, float)
    assert isinstance(on(device, np.array(3.0)).sum().item(), float)
    with pytest.raises(ValueError):
        on(device, np.ones(2)).item()


@pytest.mark.parametrize("device", DEVICES)
def test_numpy_returns_a_host_copy(device):
    x = on(device, np.array([1.0, 2.0, 3.0]))
    array = x.numpy()
    assert type(array) is np.ndarray
    array[0] = 100.0
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("device", DEVICES)
def test_shape_ndim_dtype_device(device):
    x = on(device, np.zeros((2, 3, 4), dtype=np.float32))
    assert x.shape == (2, 3, 4)
    assert x.ndim == 3
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.numel() == 24 and x.dim() == 3
    assert len(x) == 2
    assert x.dtype == np.float32
    assert x.device == device
    assert backend.get_array_module(x.data) is xp_for(device)
    assert "tensor(" in repr(x) and device in repr(x)


def test_dtypes_are_inferred_as_torch_tensor_does():
    """Python floats → float32, ints → int64, bools → bool; arrays keep their dtype."""
    import torch
    for data in ([1, 2, 3], 3, [[1.5, 2.5]], 2.5, [0.1, 0.2], [True, False], True, [1, 2.5]):
        assert minigrad.tensor(data).dtype == np.dtype(str(torch.tensor(data).dtype)[6:]), data
    for dtype in (np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_):
        assert minigrad.tensor(np.zeros(2, dtype)).dtype == dtype


@pytest.mark.parametrize("device", DEVICES)
def test_float64_and_float32_arrays_keep_their_dtype(device):
    assert Tensor(np.ones(3), device=device).dtype == np.float64
    assert Tensor(np.ones(3, dtype=np.float32), device=device).dtype == np.float32
    assert minigrad.tensor([1, 2], dtype=np.float64, device=device).dtype == np.float64
    x64 = Tensor(np.ones(3), requires_grad=True, device=device)
    assert (x64 * 2.5 + 1).dtype == np.float64


def other_device(device):
    return "gpu" if device == "cpu" else "cpu"


@pytest.mark.parametrize("device", DEVICES)
def test_to_moves_the_data(device):
    values = np.arange(6.0).reshape(2, 3)
    x = on(device, values, requires_grad=False)
    moved = x.to(other_device(device))
    assert moved.device == other_device(device) and moved.dtype == np.float64
    assert moved.is_leaf and not moved.requires_grad  # nothing to record for a constant
    back = moved.to(device)
    assert back.device == device
    np.testing.assert_array_equal(back.numpy(), values)
    assert x.to(device) is x
    assert x.to("cuda").device == "gpu"
    assert x.to("CPU").device == "cpu"


@pytest.mark.parametrize("device", DEVICES)
def test_to_keeps_the_graph(device):
    # As in PyTorch: the move is an op; its backward moves the gradient back.
    x = on(device, np.array([1.0, -2.0, 3.0]))
    y = (x * 3).to(other_device(device))
    assert y.device == other_device(device) and y.requires_grad and not y.is_leaf
    assert type(y.grad_fn).__name__ == "ToDevice"
    y.sum().backward()
    assert x.grad is not None and backend.device_of(x.grad) == device
    np.testing.assert_array_equal(host(x.grad), [3.0, 3.0, 3.0])


@pytest.mark.parametrize("device", DEVICES)
def test_to_of_a_leaf_sends_gradients_across_and_back(device):
    there = other_device(device)
    x = on(device, np.array([1.0, 2.0]))
    w = on(there, np.array([3.0, -4.0]))
    y = x.to(there) * w
    z = (y.to(device) * x).sum()  # x reaches z on two paths: via the other device and directly
    z.backward()
    np.testing.assert_array_equal(host(x.grad), 2 * np.array([3.0, -4.0]) * [1.0, 2.0])
    np.testing.assert_array_equal(host(w.grad), [1.0, 4.0])
    assert backend.device_of(x.grad) == device and backend.device_of(w.grad) == there


@pytest.mark.parametrize("device", DEVICES)
def test_to_under_no_grad_records_nothing(device, grad_mode):
    x = on(device, np.array([1.0, 2.0]))
    with no_grad():
        moved = x.to(other_device(device))
    assert moved.is_leaf and not moved.requires_grad


# ----- operators --------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_operators_match_numpy(device):
    a_val = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    b_val = np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32)
    a, b = on(device, a_val), on(device, b_val)
    cases = {
        "+": (a + b, a_val + b_val), "-": (a - b, a_val - b_val),
        "*": (a * b, a_val * b_val), "/": (a / b, a_val / b_val),
        "**": (a ** 2, a_val ** 2), "@": (a @ b, a_val @ b_val),
        "neg": (-a, -a_val), "index": (a[1], a_val[1]), "index2": (a[:, 0], a_val[:, 0]),
    }
    for name, (ours, expected) in cases.items():
        assert isinstance(ours, Tensor), name
        assert ours.device == device, name
        np.testing.assert_allclose(host(ours), expected, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("device", DEVICES)
def test_python_scalars_on_either_side(device):
    values = np.array([1.0, 2.0, 4.0], dtype=np.float32)
    cases = [
        (lambda x: 2 - x, 2 - values, -np.ones(3)),
        (lambda x: x - 2, values - 2, np.ones(3)),
        (lambda x: x / 3, values / 3, np.full(3, 1 / 3)),
        (lambda x: 3 / x, 3 / values, -3 / values ** 2),
        (lambda x: 2 * x, 2 * values, np.full(3, 2.0)),
        (lambda x: x * 2.5, values * 2.5, np.full(3, 2.5)),
        (lambda x: 1 + x, 1 + values, np.ones(3)),
        (lambda x: x + 0.5, values + 0.5, np.ones(3)),
        (lambda x: x ** 3, values ** 3, 3 * values ** 2),
        (lambda x: x ** 0.5, values ** 0.5, 0.5 * values ** -0.5),
    ]
    for i, (fn, expected, grad) in enumerate(cases):
        x = on(device, values)
        y = fn(x)
        assert y.dtype == np.float32, f"case {i}: {y.dtype}"
        np.testing.assert_allclose(host(y), expected, rtol=1e-6, err_msg=f"case {i}")
        y.backward(seed_like(y))
        assert x.grad.dtype == np.float32
        np.testing.assert_allclose(host(x.grad), grad, rtol=1e-6, err_msg=f"case {i}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("scalar", [np.float32(2.0), np.float64(2.0), np.int64(2)],
                         ids=["np.float32", "np.float64", "np.int64"])
def test_numpy_scalars_as_operands(device, scalar):
    # NumPy scalars are host numbers, like Python's; CuPy accepts them with device arrays.
    x = on(device, np.array([1.0, 3.0], dtype=np.float32))
    for y, expected in [(x * scalar, [2.0, 6.0]), (scalar * x, [2.0, 6.0]),
                        (x - scalar, [-1.0, 1.0]), (scalar - x, [1.0, -1.0])]:
        assert isinstance(y, Tensor) and y.device == device and y.dtype == np.float32
        np.testing.assert_allclose(host(y), expected)


def test_numpy_array_operand_on_cpu():
    values = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    other = np.array([10.0, 20.0, 30.0])
    x = Tensor(values, requires_grad=True)
    for y, expected in [(x + other, values + other), (other + x, other + values),
                        (other - x, other - values), (x - other, values - other),
                        (other * x, other * values), (other / x, other / values)]:
        assert isinstance(y, Tensor)
        assert y.dtype == np.float32
        np.testing.assert_allclose(host(y), expected, rtol=1e-6)
    (other - x).sum().backward()
    np.testing.assert_allclose(host(x.grad), -np.ones(3))
    x.zero_grad()
    (other * x).sum().backward()
    np.testing.assert_allclose(host(x.grad), other)


def test_numpy_matrix_operand_on_cpu():
    a = np.arange(6.0).reshape(2, 3)
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    y = a @ w
    assert isinstance(y, Tensor)
    np.testing.assert_allclose(host(y), a @ np.ones((3, 2)))
    y.sum().backward()
    np.testing.assert_allclose(host(w.grad), a.T @ np.ones((2, 2)))


@pytest.mark.parametrize("device", DEVICES)
def test_indexing_reads_like_numpy(device):
    values = np.arange(24.0).reshape(2, 3, 4)
    x = on(device, values)
    for index in [1, (0, 2), (slice(None), 1), (Ellipsis, -1), (None, 1, slice(None, None, -1)),
                  ([0, 0, 1],), (1, [2, 0, 2], slice(1, 3))]:
        np.testing.assert_array_equal(host(x[index]), values[index], err_msg=str(index))
    index = Tensor([1, 1, 0], device=device)
    np.testing.assert_array_equal(host(x[index]), values[[1, 1, 0]])


# ----- methods are the functions of minigrad.ops ----------------------------------------------

X = object()  # stands for the tensor itself in the expected calls
M = np.ones((4, 2))

DELEGATION = [  # (expression, ops family, function, expected positional args, keyword args)
    (lambda x: x + 2, "elementwise", "add", (X, 2), {}),
    (lambda x: 2 + x, "elementwise", "add", (X, 2), {}),  # a + b = b + a: __radd__ is add
    (lambda x: x - 2, "elementwise", "sub", (X, 2), {}),
    (lambda x: 2 - x, "elementwise", "sub", (2, X), {}),
    (lambda x: x * 2, "elementwise", "mul", (X, 2), {}),
    (lambda x: 2 * x, "elementwise", "mul", (X, 2), {}),
    (lambda x: x / 2, "elementwise", "div", (X, 2), {}),
    (lambda x: 2 / x, "elementwise", "div", (2, X), {}),
    (lambda x: x ** 2, "elementwise", "pow", (X, 2), {}),
    (lambda x: 2 ** x, "elementwise", "pow", (2, X), {}),
    (lambda x: -x, "elementwise", "neg", (X,), {}),
    (lambda x: x @ M, "linalg", "matmul", (X, M), {}),
    (lambda x: M @ x, "linalg", "matmul", (M, X), {}),
    (lambda x: x[1, ::2], "shape", "getitem", (X, (1, slice(None, None, 2))), {}),
    (lambda x: x.exp(), "elementwise", "exp", (X,), {}),
    (lambda x: x.log(), "elementwise", "log", (X,), {}),
    (lambda x: x.relu(), "elementwise", "relu", (X,), {}),
    (lambda x: x.maximum(M), "elementwise", "maximum", (X, M), {}),
    (lambda x: x.minimum(M), "elementwise", "minimum", (X, M), {}),
    (lambda x: x.clamp(min=-1, max=1), "elementwise", "clamp", (X,), {"min": -1, "max": 1}),
    (lambda x: x.clamp(0.5), "elementwise", "clamp", (X, 0.5), {}),
    (lambda x: x.sum(), "reduce", "sum", (X,), {}),
    (lambda x: x.sum(dim=1, keepdim=True), "reduce", "sum", (X,), {"dim": 1, "keepdim": True}),
    (lambda x: x.mean((0, 2)), "reduce", "mean", (X, (0, 2)), {}),
    (lambda x: x.max(), "reduce", "max", (X,), {}),
    (lambda x: x.max(1), "reduce", "max", (X, 1), {}),
    (lambda x: x.amax(dim=-1, keepdim=True), "reduce", "amax", (X,), {"dim": -1, "keepdim": True}),
    (lambda x: x.reshape(4, 6), "shape", "reshape", (X, 4, 6), {}),
    (lambda x: x.reshape((4, 6)), "shape", "reshape", (X, (4, 6)), {}),
    (lambda x: x.transpose(0, 2), "shape", "transpose", (X, 0, 2), {}),
    (lambda x: x.permute(2, 0, 1), "shape", "permute", (X, 2, 0, 1), {}),
    (lambda x: x.flatten(), "shape", "flatten", (X,), {}),
    (lambda x: x.flatten(start_dim=1, end_dim=2), "shape", "flatten", (X,),
     {"start_dim": 1, "end_dim": 2}),
    (lambda x: x.T, "shape", "permute", (X, 2, 1, 0), {}),
]


def _same(actual, expected, x):
    if expected is X:
        return actual is x
    if isinstance(expected, np.ndarray):
        return actual is expected
    return type(actual) is type(expected) and actual == expected


@pytest.mark.parametrize("expression, family, name, args, kwargs", DELEGATION,
                         ids=[f"{case[2]}-{i}" for i, case in enumerate(DELEGATION)])
def test_each_method_calls_its_ops_function(monkeypatch, expression, family, name, args, kwargs):
    """Most methods ARE the op's function (``Tensor.__mul__ is elementwise.mul``); the
    reflected ones and ``T`` call it: either way the call reaches the op with the same
    arguments, which a recorder put in the op's place (class and module) sees."""
    calls, result = [], object()

    def recorder(*call_args, **call_kwargs):
        calls.append((call_args, call_kwargs))
        return result

    module = importlib.import_module(f"minigrad.ops.{family}")
    signature = inspect.signature(getattr(module, name))
    original = getattr(module, name)
    for cls in Tensor.__mro__:  # the class attributes that are this very function
        for attribute, value in list(vars(cls).items()):
            if value is original:
                monkeypatch.setattr(cls, attribute, recorder)
    monkeypatch.setattr(module, name, recorder)
    x = Tensor(np.ones((2, 3, 4)))
    assert expression(x) is result
    assert len(calls) == 1
    # the same arguments, however they were passed (positionally or by name)
    got = signature.bind(*calls[0][0], **calls[0][1])
    expected = signature.bind(*args, **kwargs)
    got.apply_defaults()
    expected.apply_defaults()
    assert got.arguments.keys() == expected.arguments.keys()
    for key, value in expected.arguments.items():
        assert _same(got.arguments[key], value, x), (key, got.arguments[key])


METHODS_VS_TORCH = [  # (ours, PyTorch's), both on (x, y), two (2, 3, 4) float64 tensors
    (lambda x, y: x.sum(dim=1, keepdim=True), lambda x, y: x.sum(dim=1, keepdim=True)),
    (lambda x, y: x.mean(dim=(0, 2)), lambda x, y: x.mean(dim=(0, 2))),
    (lambda x, y: x.max(), lambda x, y: x.max()),
    (lambda x, y: x.max(dim=1).values, lambda x, y: x.max(dim=1).values),
    (lambda x, y: x.amax(dim=-1, keepdim=True), lambda x, y: x.amax(dim=-1, keepdim=True)),
    (lambda x, y: x.clamp(min=-0.5, max=0.5), lambda x, y: x.clamp(min=-0.5, max=0.5)),
    (lambda x, y: x.maximum(y) + x.minimum(y) * 3, lambda x, y: x.maximum(y) + x.minimum(y) * 3),
    (lambda x, y: x.transpose(0, 2), lambda x, y: x.transpose(0, 2)),
    (lambda x, y: x.permute(2, 0, 1), lambda x, y: x.permute(2, 0, 1)),
    (lambda x, y: x.T, lambda x, y: x.permute(2, 1, 0)),  # torch's .T is for 2-D
    (lambda x, y: x.flatten(1, 2), lambda x, y: x.flatten(1, 2)),
    (lambda x, y: x.flatten(), lambda x, y: x.flatten()),
    (lambda x, y: x.reshape(4, 6) @ y.reshape(6, 4), lambda x, y: x.reshape(4, 6) @ y.reshape(6, 4)),
    (lambda x, y: 2 ** x - 1 / y, lambda x, y: 2 ** x - 1 / y),
    (lambda x, y: (x * x).log() + y.exp() - (3 - x).relu(),
     lambda x, y: (x * x).log() + y.exp() - (3 - x).relu()),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", range(len(METHODS_VS_TORCH)))
def test_methods_match_torch(device, case):
    pytest.importorskip("torch")
    ours, theirs = METHODS_VS_TORCH[case]
    rng = np.random.default_rng(case)
    x, y = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    assert compare_with_torch(ours, theirs, x, y, device=device)


def test_a_backward_through_parameters_changed_since_the_forward_is_refused_as_in_torch():
    """retain_graph=True, an optimizer step, a second backward: the tape holds the old
    weights, so the gradient would be of values the parameters no longer hold."""
    import torch
    for nn, optim, make in ((minigrad.nn, minigrad.optim, minigrad.ones),
                            (torch.nn, torch.optim, torch.ones)):
        layer = nn.Linear(3, 2)
        optimizer = optim.SGD(layer.parameters(), lr=0.1)
        loss = layer(make(1, 3, requires_grad=True)).sum()  # the weight is needed for dx
        loss.backward(retain_graph=True)
        optimizer.step()
        with pytest.raises(RuntimeError, match="modified"):
            loss.backward()
    layer = minigrad.nn.Linear(3, 2)  # without a step in between, twice is fine
    loss = layer(minigrad.ones(1, 3)).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(layer.bias.grad, [2.0, 2.0])


def test_a_layer_size_that_is_not_an_int_is_one_clear_error():
    with pytest.raises(TypeError, match="Linear: in_features must be a positive integer, got 576.0"):
        minigrad.nn.Linear(576.0, 10)
    with pytest.raises(TypeError, match="Conv2d: out_channels must be a positive integer"):
        minigrad.nn.Conv2d(1, 2.5, 3)
