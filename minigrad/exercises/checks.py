"""The property tests that judge each exercise, with the student's Function as a parameter.

Every exercise draws cases with hypothesis: a case is a function of tensors
that runs the Function under test (``call``), the arrays it runs on, and the
same computation in PyTorch. Three properties are shared by all exercises:

1. backward returns one gradient per input, each shaped like its input;
2. the gradients match float64 central differences (``gradcheck``);
3. values and gradients match PyTorch (``compare_with_torch``), when installed.

max_pool2d adds the tie rule (the first maximum takes the gradient), and
conv2d adds that the student's ``fold`` is the adjoint of ``unfold``. When an
assertion fails, the case's ``diagnose`` may add a hint naming the typical
mistake; the hint comes from comparing with the engine's own op (the
reference solution), never from the verdict itself.
"""
import importlib
import textwrap
from dataclasses import dataclass

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from minigrad import backend
from minigrad.exercises.runner import Property
from minigrad.functional import cross_entropy, fold, one_hot, unfold
from minigrad.ops import reduce
from minigrad.ops.window import make_window
from minigrad.tensor import Tensor
from minigrad.testing import compare_with_torch, gradcheck
from minigrad.testing.strategies import (
    ConvGeometry,
    away_from_zero_array,
    broadcastable_shapes,
    conv_geometry,
    seeds,
    shapes,
    uniform_array,
    untied_array,
)

__all__ = ["Case", "PROPERTIES"]

SHAPES = "backward returns one gradient per input, each shaped like its input"
FINITE_DIFFERENCES = "gradients match float64 finite differences (gradcheck)"
PYTORCH = "values and gradients match PyTorch (compare_with_torch)"
UNBROADCAST_HINT = ("an input that was broadcast gets a gradient of the output's shape: sum it "
                    "over the broadcast axes back to the input's shape "
                    "(minigrad.autograd.unbroadcast(grad, shape) does exactly that)")


@dataclass
class Case:
    """One drawn example: ``call(*tensors)`` runs the Functions under test on the
    ``arrays`` (float arrays become tensors that require grad, integer arrays stay
    constants); ``torch_call`` is the same in PyTorch; ``diagnose()`` names a
    typical mistake, or returns None. ``units`` are cases that each end in one
    Function under test, for the gradient-shape check (by default the case itself)."""

    call: object
    arrays: list
    torch_call: object = None
    diagnose: object = None
    units: list = None


# ----- the shared properties -------------------------------------------------------------------

def _inputs(arrays, device):
    """Float arrays as tensors that require grad on ``device``; others as device arrays."""
    return [Tensor(a, requires_grad=True, device=device) if a.dtype.kind == "f"
            else backend.to_device(a, device) for a in arrays]


def _with_hint(error, hint):
    """``error`` (an AssertionError) with a line ``hint: ...`` added, if there is a hint."""
    if not hint:
        return error
    hint = textwrap.fill(hint, width=90, initial_indent="  hint: ", subsequent_indent="        ")
    return AssertionError(f"{str(error).strip()}\n{hint}")


def _diagnosed(case, error):
    """``error`` with the case's hint added, if it has one (a diagnosis that itself
    fails gives none: it must never hide the real failure)."""
    if case.diagnose is None:
        return error
    try:
        hint = case.diagnose()
    except Exception:
        hint = None
    return _with_hint(error, hint)


def check_gradient_shapes(case, device, shape_hint=None):
    """backward(grad_out) returns a tuple with one entry per input: None or an
    array of that input's shape (for the last Function of each unit of the case)."""
    for unit in case.units or [case]:
        _check_one_backward(unit, device, shape_hint)


def _check_one_backward(case, device, shape_hint):
    inputs = _inputs(case.arrays, device)
    out = case.call(*inputs)
    function = out.grad_fn
    upstream = np.random.default_rng(0).standard_normal(out.shape).astype(out.dtype)
    grads = function.backward(backend.to_device(upstream, device))
    name = type(function).__name__
    assert isinstance(grads, (tuple, list)), (
        f"{name}.backward returned a {type(grads).__name__}; it must return a tuple with one "
        f"gradient per input ({len(function.input_shapes)} here), e.g. `return (grad_x,)`")
    assert len(grads) >= len(function.input_shapes), (
        f"{name}.backward returned {len(grads)} gradients for {len(function.input_shapes)} inputs")
    for i, (grad, shape) in enumerate(zip(grads, function.input_shapes)):
        if grad is None:
            continue
        assert hasattr(grad, "shape") and hasattr(grad, "dtype"), (
            f"{name}.backward returned a {type(grad).__name__} for input {i}; gradients are "
            "raw arrays (NumPy or CuPy), like grad_out")
        if grad.shape != shape:
            raise _with_hint(AssertionError(
                f"{name}.backward returned a gradient of shape {grad.shape} for input {i} of "
                f"shape {shape} (output shape {out.shape})"), shape_hint)


def check_finite_differences(case, device):
    try:
        gradcheck(case.call, *_inputs(case.arrays, device))
    except AssertionError as error:
        raise _diagnosed(case, error) from None


def check_pytorch(case, device):
    try:
        compare_with_torch(case.call, case.torch_call, *case.arrays, device=device)
    except AssertionError as error:
        # compare_with_torch's own line first, before NumPy's report of the numbers
        lines = str(error).strip().splitlines()
        ours = [line for line in lines if line.startswith("compare_with_torch:")]
        error = AssertionError("\n".join(ours + [line for line in lines if line not in ours]))
        raise _diagnosed(case, error) from None


def _shared(draw, first, make_case, device, shape_hint=None):
    """The three shared properties over the cases ``make_case(**drawn)``, with
    ``draw`` the hypothesis strategies of the drawn arguments. Each property
    tries the example ``first`` before the drawn ones: a typical case, large
    enough that a wrong gradient shows its pattern (and the hint names it)."""

    @given(**draw)
    @example(**first)
    def gradient_shapes(**drawn):
        check_gradient_shapes(make_case(**drawn), device, shape_hint)

    @given(**draw)
    @example(**first)
    def finite_differences(**drawn):
        check_finite_differences(make_case(**drawn), device)

    @given(**draw)
    @example(**first)
    def pytorch(**drawn):
        check_pytorch(make_case(**drawn), device)

    return [Property(SHAPES, gradient_shapes), Property(FINITE_DIFFERENCES, finite_differences),
            Property(PYTORCH, pytorch, needs_torch=True)]


def _torch_functional():
    """torch.nn.functional, imported only when a PyTorch property runs."""
    return importlib.import_module("torch.nn.functional")


def _host(tensor_or_array):
    data = tensor_or_array.data if isinstance(tensor_or_array, Tensor) else tensor_or_array
    return np.asarray(backend.to_device(data, "cpu"))


# ----- broadcasting add and mul, matmul ------------------------------------------------------

def _binary_properties(fn_class, device, torch_call):
    def make_case(shapes, seed):
        def apply(a, b):
            return fn_class.apply(a, b)
        arrays = [uniform_array(shapes[0], seed), uniform_array(shapes[1], seed + 1)]
        return Case(apply, arrays, torch_call)

    draw = dict(shapes=broadcastable_shapes(max_dims=3, max_side=3), seed=seeds)
    first = dict(shapes=((2, 3), (3,)), seed=0)
    return _shared(draw, first, make_case, device, UNBROADCAST_HINT)


def add_properties(classes, device, module):
    return _binary_properties(classes[0], device, lambda a, b: a + b)


def mul_properties(classes, device, module):
    return _binary_properties(classes[0], device, lambda a, b: a * b)


def matmul_properties(classes, device, module):
    (fn_class,) = classes

    def make_case(batch, sizes, seed):
        n, k, m = sizes

        def matmul(a, b):
            return fn_class.apply(a, b)
        arrays = [uniform_array(batch[0] + (n, k), seed),
                  uniform_array(batch[1] + (k, m), seed + 1)]
        return Case(matmul, arrays, lambda a, b: a @ b)

    draw = dict(batch=broadcastable_shapes(min_dims=0, max_dims=2, max_side=3),
                sizes=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
                seed=seeds)
    first = dict(batch=((2,), ()), sizes=(2, 3, 2), seed=0)
    return _shared(draw, first, make_case, device, UNBROADCAST_HINT)


# ----- sum and mean --------------------------------------------------------------------------

@st.composite
def reductions(draw):
    """(shape, dim, keepdim): dim None (all), an int (negative too) or a tuple of dims."""
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    ndim = len(shape)
    dim = draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                         st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                  unique=True).map(tuple)))
    return shape, dim, draw(st.booleans())


def _reduction_properties(fn_class, device, torch_method):
    def make_case(case, seed):
        shape, dim, keepdim = case

        def reduce(x):  # as minigrad.ops.reduce calls it: the dims sorted, None for all
            dims = range(len(shape)) if dim is None else [dim] if isinstance(dim, int) else dim
            return fn_class.apply(x, dims=tuple(sorted(d % len(shape) for d in dims)),
                                  keepdim=keepdim)

        def torch_call(x):
            return getattr(x, torch_method)(dim=dim, keepdim=keepdim)
        return Case(reduce, [uniform_array(shape, seed)], torch_call)

    first = dict(case=((2, 3, 4), 1, False), seed=0)
    return _shared(dict(case=reductions(), seed=seeds), first, make_case, device)


def sum_properties(classes, device, module):
    return _reduction_properties(classes[0], device, "sum")


def mean_properties(classes, device, module):
    return _reduction_properties(classes[0], device, "mean")


# ----- ReLU ----------------------------------------------------------------------------------

def relu_properties(classes, device, module):
    (fn_class,) = classes

    def make_case(shape, seed):
        def relu(x):
            return fn_class.apply(x)
        # |x| ≥ 0.1: the kink at 0 stays out of reach of a finite-difference step
        return Case(relu, [away_from_zero_array(shape, seed)], lambda x: x.relu())

    draw = dict(shape=shapes(max_dims=3, max_side=4), seed=seeds)
    return _shared(draw, dict(shape=(3, 4), seed=0), make_case, device)


# ----- max-pool 2×2 --------------------------------------------------------------------------

@st.composite
def pool2x2_cases(draw):
    """(input shape, stride) for a 2×2 window: stride 2 tiles, stride 1 overlaps."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)),
             draw(st.integers(2, 6)), draw(st.integers(2, 6)))
    return shape, draw(st.sampled_from([2, 1]))


def _pool2x2(fn_class, x, stride):
    window = make_window("max_pool2d", x.shape[2:], 2, stride)
    return fn_class.apply(x, window=window)


def pool_gradient(x, grad_out, stride, first=True):
    """The 2×2 max-pool gradient by loops on the host: each window sends its
    grad_out to its first maximum in row-major order (or its last)."""
    grad = np.zeros_like(x)
    n, c, oh, ow = grad_out.shape
    for image, channel, i, j in np.ndindex(n, c, oh, ow):
        window_values = x[image, channel, i * stride:i * stride + 2, j * stride:j * stride + 2]
        flat = window_values.reshape(-1)
        k = int(flat.argmax()) if first else len(flat) - 1 - int(flat[::-1].argmax())
        row, column = i * stride + k // 2, j * stride + k % 2
        grad[image, channel, row, column] += grad_out[image, channel, i, j]
    return grad


def max_pool2d_properties(classes, device, module):
    (fn_class,) = classes

    def make_case(case, seed):
        shape, stride = case

        def max_pool2d(x):
            return _pool2x2(fn_class, x, stride)

        def torch_call(x):
            return _torch_functional().max_pool2d(x, 2, stride)
        # distinct values, far apart: no ties for the finite differences to stumble on
        return Case(max_pool2d, [untied_array(shape, seed, gap=0.05)], torch_call)

    first = dict(case=((2, 2, 4, 5), 2), seed=0)

    @given(case=pool2x2_cases(), seed=seeds)
    @example(**first)
    def ties(case, seed):
        shape, stride = case
        # values from {0, 1, 2}: most windows hold a tie for their maximum
        x = np.random.default_rng(seed).integers(0, 3, size=shape).astype(np.float64)
        tensor = Tensor(x, requires_grad=True, device=device)
        out = _pool2x2(fn_class, tensor, stride)
        grad_out = np.random.default_rng(seed + 1).standard_normal(out.shape)
        out.backward(backend.to_device(grad_out, device))
        got = _host(tensor.grad)
        expected = pool_gradient(x, grad_out, stride)
        if not np.allclose(got, expected, rtol=1e-12, atol=1e-12):
            hint = None
            if np.allclose(got, pool_gradient(x, grad_out, stride, first=False)):
                hint = ("the gradient went to the last maximum of a tied window; it belongs to "
                        "the first, in row-major order (scan with a strict >, as forward does)")
            wrong = int((~np.isclose(got, expected)).sum())
            raise _with_hint(AssertionError(
                f"at a tie, the gradient must go to the first maximum of the window "
                f"(row-major order, as in PyTorch); input shape {shape}, stride {stride}: "
                f"wrong at {wrong} of {got.size} elements"), hint)

    draw = dict(case=pool2x2_cases(), seed=seeds)
    return _shared(draw, first, make_case, device) + [
        Property("a tie sends the gradient to the first maximum, as in PyTorch", ties)]


# ----- cross-entropy -------------------------------------------------------------------------

def cross_entropy_properties(classes, device, module):
    log_softmax_class, nll_class = classes

    def make_case(n, num_classes, seed):
        logits = uniform_array((n, num_classes), seed, low=-3.0, high=3.0)
        labels = np.random.default_rng(seed).integers(0, num_classes, size=n)
        q = backend.to_device(one_hot(labels, num_classes).astype(np.float64), device)

        def cross_entropy_of(logits, labels):  # as minigrad's cross_entropy computes it
            log_probs = log_softmax_class.apply(logits, dim=1)
            return reduce.sum(nll_class.apply(log_probs, q, dim=1)) / n  # q = onehot(labels)

        def diagnose():
            mine = Tensor(logits, requires_grad=True, device=device)
            cross_entropy_of(mine, backend.to_device(labels, device)).backward()
            reference = Tensor(logits, requires_grad=True, device=device)
            cross_entropy(reference, labels).backward()
            if n > 1 and np.allclose(_host(mine.grad), n * _host(reference.grad)):
                return (f"the gradient is N = {n} times too large: the loss is the mean over "
                        "the batch, and its 1/N comes into NegativeLogLikelihood.backward "
                        "through grad_out; multiply by it")
            return None

        def torch_call(logits, labels):
            return _torch_functional().cross_entropy(logits, labels)

        units = [Case(lambda x: log_softmax_class.apply(x, dim=1), [logits]),
                 Case(lambda log_p: nll_class.apply(log_p, q, dim=1), [logits])]
        return Case(cross_entropy_of, [logits, labels], torch_call, diagnose, units)

    draw = dict(n=st.integers(1, 4), num_classes=st.integers(2, 5), seed=seeds)
    return _shared(draw, dict(n=4, num_classes=3, seed=0), make_case, device)


# ----- conv2d: dW, db, dU and fold -----------------------------------------------------------

SMALL_CONV = dict(max_batch=2, max_groups=1, max_group_channels=3, max_size=6, max_kernel=3,
                  max_stride=2, max_padding=1, max_dilation=1)  # the exercise's conv: no groups
FIRST_CONV = ConvGeometry(n=2, c=2, h=5, w=4, out_channels=3, kernel=(3, 3), stride=(1, 1),
                          padding=(1, 1))  # the windows overlap


def _conv_window(geometry):
    return make_window("conv2d", (geometry.h, geometry.w), geometry.kernel, geometry.stride,
                       geometry.padding)


def overlap_counts(geometry):
    """How many windows cover each pixel: fold (the engine's) of all-ones columns."""
    n, c, h, w = geometry.input_shape
    window = _conv_window(geometry)
    positions = window.out_size[0] * window.out_size[1]
    ones = Tensor(np.ones((n, c * window.kernel[0] * window.kernel[1], positions)))
    return fold(ones, (h, w), geometry.kernel, stride=geometry.stride,
                padding=geometry.padding).numpy()


def _assigns_overlaps(got, counts, scale):
    """True when ``got`` is what a fold that assigns (=) instead of adding (+=) gives."""
    return counts.max() > 1 and np.allclose(got, scale * (counts > 0))


FOLD_HINT = ("where windows overlap, a pixel was copied into several patches and must collect "
             "the sum of all their gradients; your fold keeps only one of them. Add with += "
             "into the image, don't assign with =")


def conv2d_properties(classes, device, module):
    (fn_class,) = classes

    def make_case(geometry, bias, seed):
        window = _conv_window(geometry)
        arrays = [uniform_array(geometry.input_shape, seed),
                  uniform_array(geometry.weight_shape, seed + 1)]
        if bias:
            arrays.append(uniform_array((geometry.out_channels,), seed + 2))

        def conv2d(x, weight, bias=None):
            inputs = (x, weight) if bias is None else (x, weight, bias)
            return fn_class.apply(*inputs, window=window)

        def torch_call(x, weight, bias=None):
            return _torch_functional().conv2d(x, weight, bias, geometry.stride, geometry.padding)

        def diagnose():
            # weight and grad_out all ones: dU is O everywhere, so dX = O · (overlap counts)
            x = Tensor(arrays[0], requires_grad=True, device=device)
            weight = Tensor(np.ones(geometry.weight_shape), device=device)
            out = conv2d(x, weight)
            out.backward(backend.to_device(np.ones(out.shape), device))
            if _assigns_overlaps(_host(x.grad), overlap_counts(geometry), geometry.out_channels):
                return FOLD_HINT
            return None

        return Case(conv2d, arrays, torch_call, diagnose)

    draw = dict(geometry=conv_geometry(**SMALL_CONV), bias=st.booleans(), seed=seeds)
    properties = _shared(draw, dict(geometry=FIRST_CONV, bias=True, seed=0), make_case, device)
    student_fold = getattr(module, "fold", None)
    if callable(student_fold):
        properties.append(_fold_adjoint(student_fold, device))
    return properties


def _fold_adjoint(student_fold, device):
    @given(geometry=conv_geometry(**SMALL_CONV), seed=seeds)
    @example(geometry=FIRST_CONV, seed=0)
    def fold_is_adjoint(geometry, seed):
        n, c, h, w = shape = geometry.input_shape
        x = uniform_array(shape, seed)
        patches = unfold(Tensor(x), geometry.kernel, stride=geometry.stride,
                         padding=geometry.padding).numpy()               # (N, K, L)
        cols = patches.transpose(1, 2, 0).reshape(patches.shape[1], -1)  # U (K, L·N)
        u = uniform_array(cols.shape, seed + 1)
        window = _conv_window(geometry)
        folded = _host(student_fold(backend.to_device(u, device), shape, window))
        assert folded.shape == shape, (
            f"fold returned shape {folded.shape}; columns of shape {u.shape} fold back to "
            f"images of shape {shape}")
        left, right = float((cols * u).sum()), float((x * folded).sum())
        if not np.isclose(left, right, rtol=1e-9, atol=1e-9):
            ones = _host(student_fold(backend.to_device(np.ones(u.shape), device), shape, window))
            hint = FOLD_HINT if _assigns_overlaps(ones, overlap_counts(geometry), 1) else None
            raise _with_hint(AssertionError(
                f"⟨unfold(x), u⟩ = {left:.10g} but ⟨x, fold(u)⟩ = {right:.10g}"),
                hint)

    return Property("fold is the adjoint of unfold: ⟨unfold(x), u⟩ = ⟨x, fold(u)⟩",
                    fold_is_adjoint)


PROPERTIES = {
    "add": add_properties, "mul": mul_properties, "matmul": matmul_properties,
    "sum": sum_properties, "mean": mean_properties, "relu": relu_properties,
    "max_pool2d": max_pool2d_properties, "cross_entropy": cross_entropy_properties,
    "conv2d": conv2d_properties,
}
