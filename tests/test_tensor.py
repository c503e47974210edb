"""The tape and the Tensor API: what a PyTorch user expects to hold.

Every test that touches data runs on the CPU and on the 'gpu' (CuPy, or the
CPU stand-in for it that refuses NumPy, see conftest).
"""
import gc
import importlib
import weakref

import numpy as np
import pytest

import minigrad
from minigrad import Tensor, backend, is_grad_enabled, no_grad
from helpers import DEVICES, host, on

TAPE = importlib.import_module("minigrad.tensor")  # the module; `minigrad.tensor` is the function


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


def _released(tensor):
    """The op that made ``tensor`` is gone, or has let go of what it saved."""
    return tensor._fn is None or getattr(tensor._fn, "released", False)


@pytest.mark.parametrize("device", DEVICES)
def test_backward_releases_the_graph(device):
    x = on(device, np.array([1.0, 2.0]))
    y = x * 3
    out = (y + 1).sum()
    assert not _released(out) and not _released(y)
    out.backward()
    assert _released(out)
    assert _released(y)
    assert x.grad is not None


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
def test_backward_through_a_released_graph_is_not_silently_wrong(device):
    # Two losses share h. After the first backward has released h's op, the
    # second may raise (PyTorch does) or give the right gradient, but must not
    # quietly stop at h and leave x without its share.
    x = on(device, np.array([1.0, 2.0]))
    h = x * 3
    first, second = (h * 2).sum(), (h * 5).sum()
    first.backward()
    np.testing.assert_allclose(host(x.grad), [6.0, 6.0])
    try:
        second.backward()
    except RuntimeError:
        return
    np.testing.assert_allclose(host(x.grad), [21.0, 21.0])


@pytest.mark.parametrize("device", DEVICES)
def test_second_backward_on_the_same_output_is_not_silently_ignored(device):
    x = on(device, np.array([1.0, 2.0]))
    y = (x * x).sum()
    y.backward()
    try:
        y.backward()
    except RuntimeError:
        return
    np.testing.assert_allclose(host(x.grad), [4.0, 8.0])  # accumulated twice


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
    assert not y.requires_grad and y._fn is None
    z = x * 2  # recording is back on
    assert z.requires_grad and z._fn is not None


@pytest.mark.parametrize("device", DEVICES)
def test_no_grad_decorator_records_nothing(device, grad_mode):
    @no_grad()
    def step(t):
        assert not is_grad_enabled()
        return (t * t).sum()

    x = on(device, np.array([1.0, 2.0]))
    y = step(x)
    assert is_grad_enabled()
    assert not y.requires_grad and y._fn is None


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
    assert not d.requires_grad and d._fn is None
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
    assert x.size == 24
    assert len(x) == 2
    assert x.dtype == np.float32
    assert x.device == device
    assert backend.get_array_module(x.data) is xp_for(device)
    assert "tensor(" in repr(x) and device in repr(x)


def test_default_dtype_is_float32_for_python_data():
    assert Tensor([1, 2, 3]).dtype == np.float32
    assert Tensor(3).dtype == np.float32
    assert Tensor([[1.5, 2.5]]).dtype == np.float32
    assert Tensor(2.5).dtype == np.float32
    assert minigrad.tensor([0.1, 0.2]).dtype == np.float32
    assert Tensor(np.arange(4)).dtype == np.float32  # integer arrays become float32
    assert Tensor([True, False]).dtype == np.float32


@pytest.mark.parametrize("device", DEVICES)
def test_float64_and_float32_arrays_keep_their_dtype(device):
    assert Tensor(np.ones(3), device=device).dtype == np.float64
    assert Tensor(np.ones(3, dtype=np.float32), device=device).dtype == np.float32
    assert minigrad.tensor([1, 2], dtype=np.float64, device=device).dtype == np.float64
    x64 = Tensor(np.ones(3), requires_grad=True, device=device)
    assert (x64 * 2.5 + 1).dtype == np.float64


@pytest.mark.parametrize("device", DEVICES)
def test_to_round_trip(device):
    other = "gpu" if device == "cpu" else "cpu"
    values = np.arange(6.0).reshape(2, 3)
    x = on(device, values)
    moved = x.to(other)
    assert moved.device == other
    assert moved.requires_grad
    back = moved.to(device)
    assert back.device == device
    np.testing.assert_array_equal(back.numpy(), values)
    assert x.to(device) is x
    assert x.to("cuda").device == "gpu"
    assert x.to("CPU").device == "cpu"


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
        ".T": (a.T, a_val.T),
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
