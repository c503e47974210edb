"""gradcheck: the engine's backward against central finite differences."""
import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor, no_grad

__all__ = ["gradcheck"]


def _float64_inputs(inputs):
    """float64 copies of the inputs; arrays become tensors that require grad,
    integer arrays (labels, indices) pass through unchanged."""
    copies = []
    for x in inputs:
        if isinstance(x, Tensor):
            copies.append(Tensor(x.data.astype(np.float64), requires_grad=x.requires_grad))
        elif backend.is_array(x) and x.dtype.kind == "f":
            copies.append(Tensor(x.astype(np.float64), requires_grad=True))
        else:
            copies.append(x)
    return copies


def _objective(fn, inputs, upstream):
    """L = Σ fn(inputs) · upstream, as a Python float."""
    with no_grad():
        return float((fn(*inputs).data * upstream).sum())


def _numeric_gradient(fn, inputs, x, upstream, eps):
    """dL/dx by central differences, one element at a time."""
    grad = np.zeros(x.shape)
    for index in np.ndindex(*x.shape):
        original = float(x.data[index])
        x.data[index] = original + eps
        plus = _objective(fn, inputs, upstream)
        x.data[index] = original - eps
        minus = _objective(fn, inputs, upstream)
        x.data[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check ``fn``'s backward against central finite differences in float64.

    ``fn`` maps tensors to a tensor. Every input that requires grad (arrays
    count as requiring it) is checked: with a random upstream gradient g, the
    analytic gradient of L = Σ fn(x)·g must equal (L(x+eps) − L(x−eps)) / 2eps
    within ``atol + rtol·|numeric|`` everywhere. Raises ``AssertionError``
    naming the input, the worst element and both values; returns True.
    """
    inputs = _float64_inputs(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    xp = backend.get_array_module(out.data)
    upstream = xp.asarray(np.random.default_rng(seed).standard_normal(out.shape))
    for i in checked:
        inputs[i].grad = None
    out.backward(upstream)
    for i in checked:
        x = inputs[i]
        analytic = np.zeros(x.shape) if x.grad is None else backend.to_device(x.grad, "cpu")
        numeric = _numeric_gradient(fn, inputs, x, upstream, eps)
        _assert_close(f"input {i}", x.shape, out.shape, analytic, numeric, atol, rtol)
    return True


def _assert_close(name, shape, out_shape, analytic, numeric, atol, rtol):
    excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if excess.size and excess.max() > 0:
        worst = np.unravel_index(int(excess.argmax()), shape) if shape else ()
        bad = int((excess > 0).sum())
        raise AssertionError(
            f"gradcheck: the gradient of {name} (shape {shape}, output shape {out_shape}) "
            f"is wrong at {bad} of {excess.size} elements; worst at index {worst}: "
            f"analytic {analytic[worst]:.8g}, numeric {numeric[worst]:.8g} "
            f"(atol {atol}, rtol {rtol})")
