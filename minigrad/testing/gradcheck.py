"""gradcheck: the engine's backward against central finite differences.

For a function ``fn`` of tensors and a fixed random upstream gradient g, the
scalar L(x) = Σ fn(x) · g has gradient dL/dx = (the vector-Jacobian product
backward computes for g). Central differences estimate the same number one
element at a time::

    dL/dx[i] ≈ (L(x + eps·eᵢ) − L(x − eps·eᵢ)) / (2·eps)

with an error of order eps² — far below the tolerances in float64. A random
g (rather than ones) keeps wrong gradients from cancelling out in the sum.
"""
import inspect

import numpy as np

from minigrad import backend
from minigrad.autograd import GradientShapeError, no_grad
from minigrad.tensor import Tensor
from minigrad.testing.layouts import copy_to

__all__ = ["backward_checked", "gradcheck"]


def _float64_inputs(inputs):
    """float64 copies of the inputs, on the device and in the memory layout they came
    in (a transposed input stays transposed). Float arrays become tensors that require
    grad; float tensors keep their requires_grad; anything else (integer labels,
    numbers) passes through unchanged."""
    copies = []
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            copies.append(Tensor(copy_to(x.data, dtype=np.float64), requires_grad=x.requires_grad))
        elif backend.is_array(x) and x.dtype.kind == "f":
            copies.append(Tensor(copy_to(x, dtype=np.float64), requires_grad=True))
        else:
            copies.append(x)
    return copies


def _input_names(fn, count):
    """'input 1 (weight)' when fn's signature names its positional parameters, else 'input 1'."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [p.name for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [f"input {i} ({positional[i]})" if i < len(positional) else f"input {i}"
            for i in range(count)]


def _objective(fn, inputs, upstream):
    """L = Σ fn(inputs) · upstream, as a Python float."""
    with no_grad():
        return float((fn(*inputs).data * upstream).sum())


def _numeric_gradient(fn, inputs, x, upstream, eps):
    """dL/dx by central differences, one element at a time (x.data is changed
    in place and restored)."""
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


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-6, rtol=1e-5, seed=0):
    """Check ``fn``'s backward against central finite differences in float64.

    ``fn`` maps tensors to a tensor; it may use any op, including your own
    :class:`~minigrad.autograd.Function` subclasses. ``inputs`` are tensors (on
    'cpu' or 'gpu'), float arrays (treated as tensors that require grad) or
    anything else ``fn`` accepts (labels, numbers), passed through. Float
    inputs are copied to float64 first (keeping their device and memory
    layout), so the originals are never touched.

    Every input that requires grad is checked: with a random upstream
    gradient g drawn from ``seed``, the analytic gradient of L = Σ fn(x)·g
    must equal the central difference (L(x + eps) − L(x − eps)) / 2·eps within
    ``atol + rtol·|numeric|`` at every element.

    Raises ``AssertionError`` naming the input, its shape and the output's,
    how many elements are wrong, and the worst one's index with both values;
    or saying that backward wrote into the upstream gradient it was handed, or
    left two gradients sharing one array.
    Returns True, so ``assert gradcheck(...)`` reads naturally.
    """
    inputs = _float64_inputs(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad (pass float arrays, or tensors "
                         "made with requires_grad=True)")
    names = _input_names(fn, len(inputs))
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise TypeError(f"gradcheck: fn returned {out.dtype} from float64 inputs; finite "
                        "differences need float64 throughout (does an op cast, or make a "
                        "float32 constant?)")
    upstream = backend.to_device(np.random.default_rng(seed).standard_normal(out.shape),
                                 out.device)
    if out.requires_grad:
        backward_checked(out, upstream, {names[i]: inputs[i] for i in checked}, "gradcheck")
    for i in checked:
        x = inputs[i]
        context = dict(name=names[i], shape=x.shape, out_shape=out.shape)
        if x.grad is None:
            analytic = np.zeros(x.shape)
            context["note"] = ("backward gave this input no gradient at all"
                               if out.requires_grad else
                               "fn's output does not require grad: the graph was cut "
                               "(.data, detach() or no_grad inside fn?)")
        else:
            analytic = np.asarray(backend.to_device(x.grad, "cpu"), dtype=np.float64)
        if analytic.shape != x.shape:
            hint = (" (did backward forget to sum over broadcast axes with unbroadcast?)"
                    if analytic.size > x.size else "")
            raise AssertionError(
                f"gradcheck: backward returned a gradient of shape {analytic.shape} for "
                f"{names[i]} of shape {x.shape} (output shape {out.shape}){hint}")
        numeric = _numeric_gradient(fn, inputs, x, upstream, eps)
        _assert_close(analytic, numeric, atol, rtol, **context)
    return True


def backward_checked(out, upstream, leaves, checker):
    """``out.backward(upstream)``, raising AssertionError (its message starting with
    ``checker``) when the engine finds a gradient of the wrong shape; when backward
    wrote into ``upstream``, the caller's array; or when a leaf's ``.grad`` shares
    memory with ``upstream`` or with another leaf's (the next backward's += would
    then change both). ``leaves``: {name: tensor}."""
    before = np.array(backend.to_device(upstream, "cpu"))
    try:
        out.backward(upstream)
    except GradientShapeError as error:  # the engine caught a wrongly shaped gradient
        raise AssertionError(f"{checker}: {error}") from None
    if not np.array_equal(backend.to_device(upstream, "cpu"), before):
        raise AssertionError(
            f"{checker}: backward changed the upstream gradient it was given, an array that "
            "belongs to the caller (does a leaf keep it as its .grad and then add to it in "
            "place, or does an op's backward write into grad_out?)")
    arrays = {"the upstream gradient": upstream}
    for name, leaf in leaves.items():
        if leaf.grad is None:
            continue
        xp = backend.get_array_module(leaf.grad)
        for other, array in arrays.items():
            if xp.shares_memory(leaf.grad, array):
                raise AssertionError(
                    f"{checker}: the gradient of {name} shares memory with {other}: every "
                    "leaf must own its .grad (a copy), or the next backward's += changes both")
        arrays[f"the gradient of {name}"] = leaf.grad


def _assert_close(analytic, numeric, atol, rtol, name, shape, out_shape, note=None):
    """Raise AssertionError unless |analytic − numeric| ≤ atol + rtol·|numeric| everywhere
    (NaN always fails; equal infinities pass)."""
    with np.errstate(invalid="ignore"):
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    excess = np.where(np.isnan(excess), np.inf, excess)
    excess = np.where(analytic == numeric, -np.inf, excess)
    if excess.size == 0 or excess.max() <= 0:
        return
    worst = np.unravel_index(int(excess.argmax()), shape) if shape else ()
    wrong = int((excess > 0).sum())
    index = tuple(int(i) for i in worst)
    lines = [
        f"gradcheck: the gradient of {name} is wrong at {wrong} of {excess.size} elements "
        f"(input shape {shape}, output shape {out_shape}).",
        f"  worst at index {index}: analytic {analytic[worst]:.8g}, numeric {numeric[worst]:.8g} "
        f"(tolerance atol {atol} + rtol {rtol}·|numeric|)",
    ]
    hint = note or _hint(analytic, numeric, atol, rtol)
    if hint:
        lines.append(f"  hint: {hint}")
    raise AssertionError("\n".join(lines))


def _hint(analytic, numeric, atol, rtol):
    """A guess at what kind of mistake it is, when the pattern is clear."""
    if not (np.all(np.isfinite(analytic)) and np.any(numeric)):
        return None
    if not np.any(analytic):
        return "the analytic gradient is zero everywhere"
    if np.count_nonzero(np.abs(numeric) > atol) < 2:
        return None  # one number fits any pattern
    scale = float((analytic * numeric).sum() / (numeric * numeric).sum())
    if np.allclose(analytic, scale * numeric, rtol=rtol, atol=atol):
        if np.isclose(scale, -1.0, rtol=1e-3):
            return "the analytic gradient is the numeric one with its sign flipped"
        return f"the analytic gradient is the numeric one times {scale:.6g} everywhere"
    return None
