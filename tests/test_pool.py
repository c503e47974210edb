"""Pooling against PyTorch, the naive loops in minigrad.reference, and finite differences.

Max pooling is checked on ``untied_array`` inputs (distinct values, gap ≥ 0.01) so
that every window's winner is unambiguous and no finite-difference step can change
it; ties get tests of their own, where the rule is PyTorch's: the first maximum in
row-major window order takes the whole gradient. The properties run on 'cpu' and
'gpu', in float64 and float32, on the geometry ``pool_geometry()`` draws (padding,
dilation, ceil_mode), with inputs stored in each of the memory layouts of
minigrad.testing.layouts (batch-last, as conv2d's output, included).
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import DEVICES, assert_matches_torch_forward_and_backward, host, on
from hypothesis import given
from hypothesis import strategies as st

from minigrad import backend, reference
from minigrad.autograd import ShapeError
from minigrad.nn import layers as nn  # the pooling layers (nn re-exports them)
from minigrad.ops import pool
from minigrad.testing import gradcheck
from minigrad.testing.layouts import LAYOUTS, in_layout
from minigrad.testing.strategies import pool_geometry, untied_array

seeds = st.integers(0, 2**32 - 1)
dtypes = pytest.mark.parametrize("dtype", [np.float64, np.float32])
devices = pytest.mark.parametrize("device", DEVICES)
# float32: an ulp of an O(1) summand is 1.2e-7, and a window sum of up to 9 taps may round
# a few ulps away from PyTorch's order when it cancels, hence atol 1e-6 (float64 is the
# tight oracle).
TOLERANCES = {np.float64: (1e-12, 1e-14), np.float32: (1e-6, 1e-6)}


def matches_torch(fn, torch_fn, x, device, layout="contiguous", seed=0):
    """``fn`` on x (laid out as asked) against ``torch_fn`` on x: output values and dtype,
    the indices when both return (output, indices), and x's gradient for one random
    upstream gradient."""
    ours, theirs = on(device, in_layout(x, layout)), torch.tensor(x, requires_grad=True)
    out, expected = fn(ours), torch_fn(theirs)
    if isinstance(expected, tuple):
        (out, indices), (expected, expected_indices) = out, expected
        assert indices.dtype == np.int64 and not indices.requires_grad
        np.testing.assert_array_equal(host(indices), expected_indices.numpy())
    assert_matches_torch_forward_and_backward(out, expected, [(ours, theirs)], device,
                                              *TOLERANCES[x.dtype.type], seed)
    return True


# ----- max_pool2d ----------------------------------------------------------------------------

@devices
@dtypes
@given(case=pool_geometry(), seed=seeds, layout=st.sampled_from(LAYOUTS))
def test_max_pool2d_matches_torch(device, dtype, case, seed, layout):
    """Values, return_indices and gradients for every argument: padding, dilation, ceil_mode."""
    x = untied_array(case.input_shape, seed, dtype=dtype)
    assert matches_torch(lambda t: pool.max_pool2d(t, **case.max_args, return_indices=True),
                         lambda t: TF.max_pool2d(t, **case.max_args, return_indices=True),
                         x, device, layout)


@devices
@given(case=pool_geometry(), seed=seeds)
def test_max_pool2d_matches_the_naive_loops(device, case, seed):
    x = untied_array(case.input_shape, seed)
    out, indices = pool.max_pool2d(on(device, x), **case.max_args, return_indices=True)
    expected, expected_indices = reference.max_pool2d_naive(x, **case.max_args)
    np.testing.assert_array_equal(host(out), expected)
    np.testing.assert_array_equal(host(indices), expected_indices)


@devices
@given(case=pool_geometry(), seed=seeds)
def test_max_pool2d_gradient_matches_finite_differences(device, case, seed):
    x = on(device, untied_array(case.input_shape, seed))
    assert gradcheck(lambda t: pool.max_pool2d(t, **case.max_args), x)


@devices
@pytest.mark.parametrize("size, kernel, stride, padding", [(1, 2, 2, 1), (3, 2, 2, 1),
                                                           (5, 3, 3, 1), (6, 4, 3, 2)])
def test_ceil_mode_drops_a_last_window_that_would_start_in_the_right_padding(
        device, size, kernel, stride, padding):
    """Rounding up would add a window starting at or past the input's end plus the left
    padding; PyTorch drops it, and so do both poolings."""
    x = untied_array((1, 2, size, size + 1), seed=size)
    args = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=True)
    assert matches_torch(lambda t: pool.max_pool2d(t, **args), lambda t: TF.max_pool2d(t, **args),
                         x, device)
    assert matches_torch(lambda t: pool.avg_pool2d(t, **args), lambda t: TF.avg_pool2d(t, **args),
                         x, device)


@devices
def test_max_pool2d_window_wholly_in_the_padding_is_minus_infinity(device):
    """Taps at columns −1 and 2 of a 2-pixel row: no input pixel, no gradient."""
    x = on(device, np.array([[[[0.3, 0.5]]]]))
    out = pool.max_pool2d(x, (1, 2), 1, padding=(0, 1), dilation=(1, 3))
    np.testing.assert_array_equal(host(out), [[[[-np.inf]]]])
    out.backward(backend.to_device(np.ones((1, 1, 1, 1)), device))
    np.testing.assert_array_equal(host(x.grad), np.zeros((1, 1, 1, 2)))


@devices
@pytest.mark.parametrize("kernel, stride", [(3, 1), (2, 1), ((3, 2), (1, 2)), ((2, 4), (1, 3))])
def test_max_pool2d_overlapping_windows_accumulate(device, kernel, stride):
    """stride < kernel: one pixel can win several windows; its gradients add up."""
    x = untied_array((2, 2, 8, 9), seed=7)
    assert matches_torch(lambda t: pool.max_pool2d(t, kernel, stride),
                         lambda t: TF.max_pool2d(t, kernel, stride), x, device)
    ours = on(device, x)
    pool.max_pool2d(ours, kernel, stride).sum().backward()
    assert host(ours.grad).max() >= 2  # the case really overlaps


@devices
@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 1, 2, 2), (2, 2, 5, 4), (1, 2, 3, 2),
                                   (3, 1, 8, 6)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_max_pool2d_2x2_stride_2_at_even_and_odd_sizes(device, shape, layout):
    """The networks' pooling: the last row or column of an odd size is in no window."""
    x = untied_array(shape, seed=sum(shape))
    for dtype in (np.float64, np.float32):
        assert matches_torch(lambda t: pool.max_pool2d(t, 2), lambda t: TF.max_pool2d(t, 2),
                             x.astype(dtype), device, layout)
    assert gradcheck(lambda t: pool.max_pool2d(t, 2), on(device, x))


@devices
@pytest.mark.parametrize("kernel", [2, 3, (2, 3)])
def test_max_pool2d_tie_sends_the_gradient_to_the_first_maximum(device, kernel):
    """Each window of a constant image is one big tie: its top-left entry wins."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = on(device, np.ones((1, 1, 2 * kh, 3 * kw)))
    out = pool.max_pool2d(x, kernel)
    out.backward(backend.to_device(np.arange(1.0, 7.0).reshape(1, 1, 2, 3), device))
    expected = np.zeros((2 * kh, 3 * kw))
    expected[0::kh, 0::kw] = [[1, 2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(host(x.grad)[0, 0], expected)


@devices
def test_max_pool2d_tie_sends_the_gradient_to_the_first_maximum_2x2(device):
    """Two tied windows side by side, each with its maximum at every position in turn."""
    x = np.zeros((1, 1, 2, 8))
    x[0, 0, :, 2:4] = [[0, 5], [5, 5]]   # the 5 at (0, 1) is first: it wins
    x[0, 0, :, 4:6] = [[0, 0], [5, 5]]   # bottom-left wins
    x[0, 0, :, 6:8] = [[0, 0], [0, 5]]   # no tie
    x[0, 0, :, 0:2] = [[7, 7], [7, 7]]   # top-left wins
    t = on(device, x)
    pool.max_pool2d(t, 2).sum().backward()
    np.testing.assert_array_equal(host(t.grad)[0, 0], [[1, 0, 0, 1, 0, 0, 0, 0],
                                                       [0, 0, 0, 0, 1, 0, 0, 1]])


@devices
@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 1), ((2, 3), (1, 2))])
@given(seed=seeds, layout=st.sampled_from(LAYOUTS), padding=st.integers(0, 1),
       ceil_mode=st.booleans())
def test_max_pool2d_ties_match_torch(device, kernel, stride, seed, layout, padding, ceil_mode):
    """Few distinct values, so most windows hold a tie, overlapping or not. Overlapping
    windows may add in another order than torch's: equal up to rounding, while a gradient
    sent to the wrong tied element would be off by a whole upstream value."""
    x = np.random.default_rng(seed).integers(0, 3, size=(2, 2, 7, 8)).astype(np.float64)
    args = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                return_indices=True)
    assert matches_torch(lambda t: pool.max_pool2d(t, **args),
                         lambda t: TF.max_pool2d(t, **args), x, device, layout, seed)


# ----- avg_pool2d ----------------------------------------------------------------------------

divisors = st.one_of(st.none(), st.integers(1, 9), st.integers(-3, -1))


@devices
@dtypes
@given(case=pool_geometry(max_dilation=1), count_include_pad=st.booleans(), divisor=divisors,
       seed=seeds, layout=st.sampled_from(LAYOUTS))
def test_avg_pool2d_matches_torch(device, dtype, case, count_include_pad, divisor, seed, layout):
    x = np.random.default_rng(seed).standard_normal(case.input_shape).astype(dtype)
    args = dict(case.avg_args, count_include_pad=count_include_pad, divisor_override=divisor)
    assert matches_torch(lambda t: pool.avg_pool2d(t, **args), lambda t: TF.avg_pool2d(t, **args),
                         x, device, layout)


@devices
@given(case=pool_geometry(max_dilation=1), count_include_pad=st.booleans(), divisor=divisors,
       seed=seeds)
def test_avg_pool2d_matches_the_naive_loops_and_finite_differences(device, case,
                                                                   count_include_pad, divisor,
                                                                   seed):
    x = np.random.default_rng(seed).standard_normal(case.input_shape)
    args = dict(case.avg_args, count_include_pad=count_include_pad, divisor_override=divisor)
    np.testing.assert_allclose(host(pool.avg_pool2d(on(device, x), **args)),
                               reference.avg_pool2d_naive(x, **args), rtol=1e-12, atol=1e-14)
    assert gradcheck(lambda t: pool.avg_pool2d(t, **args), on(device, x))


# ----- adaptive and global pooling -----------------------------------------------------------

@st.composite
def adaptive_cases(draw):
    """(input shape, output_size): an int, or a pair with None entries; any size, also
    larger than the input (windows then overlap)."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 9)),
             draw(st.integers(1, 9)))
    side = st.integers(1, 10)
    output_size = draw(st.one_of(side, st.tuples(st.one_of(side, st.none()),
                                                  st.one_of(side, st.none()))))
    return shape, output_size


def _pair_of(output_size, shape):
    sizes = (output_size, output_size) if isinstance(output_size, int) else output_size
    return tuple(n if o is None else o for o, n in zip(sizes, shape[2:]))


@devices
@dtypes
@given(case=adaptive_cases(), seed=seeds, layout=st.sampled_from(LAYOUTS))
def test_adaptive_max_pool2d_matches_torch_and_the_naive_loops(device, dtype, case, seed, layout):
    shape, output_size = case
    x = untied_array(shape, seed, dtype=dtype)
    assert matches_torch(lambda t: pool.adaptive_max_pool2d(t, output_size, True),
                         lambda t: TF.adaptive_max_pool2d(t, output_size, True), x, device, layout)
    out, indices = pool.adaptive_max_pool2d(on(device, x), output_size, return_indices=True)
    expected, expected_indices = reference.adaptive_pool2d_naive(x, _pair_of(output_size, shape),
                                                                 "max")
    np.testing.assert_array_equal(host(out), expected)
    np.testing.assert_array_equal(host(indices), expected_indices)


@devices
@dtypes
@given(case=adaptive_cases(), seed=seeds, layout=st.sampled_from(LAYOUTS))
def test_adaptive_avg_pool2d_matches_torch_and_the_naive_loops(device, dtype, case, seed, layout):
    shape, output_size = case
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    assert matches_torch(lambda t: pool.adaptive_avg_pool2d(t, output_size),
                         lambda t: TF.adaptive_avg_pool2d(t, output_size), x, device, layout)
    expected, _ = reference.adaptive_pool2d_naive(x, _pair_of(output_size, shape), "avg")
    rtol, atol = TOLERANCES[dtype]
    np.testing.assert_allclose(host(pool.adaptive_avg_pool2d(on(device, x), output_size)),
                               expected, rtol=rtol, atol=atol)


@devices
@given(case=adaptive_cases(), seed=seeds)
def test_adaptive_pooling_gradients_match_finite_differences(device, case, seed):
    shape, output_size = case
    x = untied_array(shape, seed)
    assert gradcheck(lambda t: pool.adaptive_max_pool2d(t, output_size), on(device, x),
                     rtol=1e-5, atol=1e-6)
    assert gradcheck(lambda t: pool.adaptive_avg_pool2d(t, output_size), on(device, x),
                     rtol=1e-5, atol=1e-6)


@devices
@given(seed=seeds, output_size=st.sampled_from([1, 2, (3, 2), (5, None)]))
def test_adaptive_max_pool2d_ties_go_to_the_first_maximum(device, seed, output_size):
    x = np.random.default_rng(seed).integers(0, 3, size=(2, 3, 4, 5)).astype(np.float64)
    assert matches_torch(lambda t: pool.adaptive_max_pool2d(t, output_size, True),
                         lambda t: TF.adaptive_max_pool2d(t, output_size, True), x, device,
                         seed=seed)


@devices
@pytest.mark.parametrize("output_size", [0, (0, 2), (3, 0)])
def test_adaptive_pooling_to_zero_pixels_gives_an_empty_output(device, output_size):
    """As torch's forward (whose backward refuses empty outputs; ours gives zeros)."""
    x = untied_array((2, 3, 4, 5), seed=1)
    for ours, theirs in [(pool.adaptive_max_pool2d, TF.adaptive_max_pool2d),
                         (pool.adaptive_avg_pool2d, TF.adaptive_avg_pool2d)]:
        t = on(device, x)
        out = ours(t, output_size)
        assert out.shape == tuple(theirs(torch.from_numpy(x), output_size).shape)
        out.sum().backward()
        np.testing.assert_array_equal(host(t.grad), np.zeros(x.shape))


image_shapes = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6))


@devices
@dtypes
@given(shape=image_shapes, seed=seeds, layout=st.sampled_from(LAYOUTS))
def test_global_pooling_is_adaptive_pooling_to_one_pixel(device, dtype, shape, seed, layout):
    """(N, C, H, W) → (N, C), as torch's adaptive pooling to 1 × 1, flattened."""
    x = untied_array(shape, seed, dtype=dtype)
    assert matches_torch(pool.global_max_pool2d,
                         lambda t: TF.adaptive_max_pool2d(t, 1).flatten(1), x, device, layout)
    assert matches_torch(pool.global_avg_pool2d, lambda t: t.mean(dim=(2, 3)), x, device, layout)


@devices
@given(seed=seeds)
def test_global_max_pool2d_sends_a_tie_to_the_first_maximum(device, seed):
    x = np.random.default_rng(seed).integers(0, 3, size=(2, 3, 4, 5)).astype(np.float64)
    assert matches_torch(pool.global_max_pool2d,
                         lambda t: TF.adaptive_max_pool2d(t, 1).flatten(1), x, device, seed=seed)
    ours = on(device, x)
    pool.global_max_pool2d(ours).sum().backward()
    assert (host(ours.grad) != 0).sum() == 2 * 3  # one winner per channel


# ----- every pooling: unbatched inputs, empty batches, the layers, bad arguments -----------

EVERY_POOL = {  # name: (minigrad function, torch function), on the same arguments
    "max_pool2d": (lambda t: pool.max_pool2d(t, 3, 2, 1, 2, True, True),
                   lambda t: TF.max_pool2d(t, 3, 2, 1, 2, True, True)),
    "avg_pool2d": (lambda t: pool.avg_pool2d(t, (2, 3), 2, 1, True, False),
                   lambda t: TF.avg_pool2d(t, (2, 3), 2, 1, True, False)),
    "adaptive_max_pool2d": (lambda t: pool.adaptive_max_pool2d(t, (3, None), True),
                            lambda t: TF.adaptive_max_pool2d(t, (3, None), True)),
    "adaptive_avg_pool2d": (lambda t: pool.adaptive_avg_pool2d(t, (4, 2)),
                            lambda t: TF.adaptive_avg_pool2d(t, (4, 2))),
    "global_max_pool2d": (pool.global_max_pool2d, lambda t: torch.amax(t, dim=(-2, -1))),
    "global_avg_pool2d": (pool.global_avg_pool2d, lambda t: torch.mean(t, dim=(-2, -1))),
}


@devices
@pytest.mark.parametrize("name", sorted(EVERY_POOL))
@pytest.mark.parametrize("shape", [(3, 7, 6), (0, 3, 7, 6)], ids=["unbatched", "empty-batch"])
def test_pooling_takes_unbatched_inputs_and_empty_batches(device, name, shape):
    """(C, H, W) pools as a batch of one, without the batch axis; N = 0 gives N = 0."""
    fn, torch_fn = EVERY_POOL[name]
    assert matches_torch(fn, torch_fn, untied_array(shape, seed=5), device)


LAYERS = [
    (nn.MaxPool2d(3, 2, 1, 2, True, True), torch.nn.MaxPool2d(3, 2, 1, 2, True, True)),
    (nn.MaxPool2d((2, 3)), torch.nn.MaxPool2d((2, 3))),
    (nn.AvgPool2d(3, 2, 1, True, False), torch.nn.AvgPool2d(3, 2, 1, True, False)),
    (nn.AvgPool2d(2, divisor_override=3), torch.nn.AvgPool2d(2, divisor_override=3)),
    (nn.AdaptiveMaxPool2d((3, None), True), torch.nn.AdaptiveMaxPool2d((3, None), True)),
    (nn.AdaptiveAvgPool2d(4), torch.nn.AdaptiveAvgPool2d(4)),
    (nn.GlobalMaxPool2d(), lambda t: torch.amax(t, dim=(2, 3))),
    (nn.GlobalAvgPool2d(), lambda t: torch.mean(t, dim=(2, 3))),
]


@devices
@pytest.mark.parametrize("layer, torch_layer", LAYERS, ids=[repr(layer) for layer, _ in LAYERS])
def test_pooling_layers_match_torch_layers(device, layer, torch_layer):
    """Outputs, indices and gradients, and the repr where PyTorch has the layer."""
    assert matches_torch(layer, torch_layer, untied_array((2, 3, 7, 9), seed=2), device)
    if isinstance(torch_layer, torch.nn.Module):
        assert repr(layer) == repr(torch_layer)


@pytest.mark.parametrize("call, message", [
    (lambda x: pool.max_pool2d(x, 3, padding=2), r"max_pool2d: padding must be at most half "
                                                  r"the kernel_size, got padding \(2, 2\)"),
    (lambda x: pool.avg_pool2d(x, (2, 4), padding=(0, 3)), "avg_pool2d: padding must be at most"),
    (lambda x: pool.max_pool2d(x, 0), "max_pool2d: kernel_size must be ≥ 1"),
    (lambda x: pool.max_pool2d(x, 2, stride=(1, 0)), "max_pool2d: stride must be ≥ 1"),
    (lambda x: pool.max_pool2d(x, 2, dilation=0), "max_pool2d: dilation must be ≥ 1"),
    (lambda x: pool.max_pool2d(x, 2.5), "max_pool2d: kernel_size must be an int or a pair"),
    (lambda x: pool.max_pool2d(x, 8), r"max_pool2d: the kernel spans \(8, 8\)"),
    (lambda x: pool.max_pool2d(x, 8, 3, ceil_mode=True), "max_pool2d: .*ceil_mode=True"),
    (lambda x: pool.max_pool2d(x[0, 0], 2), r"max_pool2d: expected a \(C, H, W\) or "
                                            r"\(N, C, H, W\) input .* got shape \(5, 6\)"),
    (lambda x: pool.avg_pool2d(x[:, :0], 2), r"avg_pool2d: .* got shape \(2, 0, 5, 6\)"),
    (lambda x: pool.avg_pool2d(x, 2, divisor_override=0), "avg_pool2d: divisor_override must"),
    (lambda x: pool.adaptive_max_pool2d(x, (2,)), r"adaptive_max_pool2d: output_size must"),
    (lambda x: pool.adaptive_avg_pool2d(x, -1), r"adaptive_avg_pool2d: output_size must"),
    (lambda x: pool.adaptive_avg_pool2d(x, (2, 2.5)), r"adaptive_avg_pool2d: output_size must"),
    (lambda x: pool.global_max_pool2d(x[0, 0]), r"global_max_pool2d: expected"),
    (lambda x: nn.AvgPool2d(7)(x), r"avg_pool2d: the kernel spans \(7, 7\)"),
])
def test_bad_pooling_arguments_get_an_error_naming_the_function_and_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call(on("cpu", np.zeros((2, 3, 5, 6))))


def test_pooling_errors_are_shape_errors():
    with pytest.raises(ShapeError):
        pool.max_pool2d(on("cpu", np.zeros((1, 1, 4, 4))), 3, padding=2)


@devices
@pytest.mark.parametrize("args", [
    dict(kernel_size=(3,), stride=(), padding=(1,)),
    dict(kernel_size=(3, 3), stride=(1,), padding=(1,), ceil_mode=True),
    dict(kernel_size=2, stride=[]),
], ids=["1-tuples-empty-stride", "1-tuple-stride-ceil", "empty-list-stride"])
def test_pooling_reads_a_one_tuple_as_a_pair_and_an_empty_stride_as_the_default(device, args):
    """As PyTorch: ``(1,)`` is ``(1, 1)``; ``stride=()`` (or ``[]``) is the kernel."""
    x = np.random.default_rng(3).standard_normal((2, 3, 7, 6))
    assert matches_torch(lambda t: pool.avg_pool2d(t, **args), lambda t: TF.avg_pool2d(t, **args),
                         x, device)
    assert matches_torch(lambda t: pool.max_pool2d(t, **args), lambda t: TF.max_pool2d(t, **args),
                         x, device)
