"""Convolution: unfold / fold / conv2d / nn.Conv2d against PyTorch, the naive loops
in minigrad.reference, and float64 finite differences; padding strings, groups,
dilation, unbatched inputs, empty batches, the memory budget; clear errors.

Geometry comes from ``conv_geometry()`` in minigrad.testing.strategies: batch
1–3, 1–3 groups of 1–3 channels each, H and W 1–10 drawn independently, kernel
1–4, stride 1–3, padding 0–2 and dilation 1–3 per axis, including sizes where
the window does not tile the padded input. Every input is also tried in four
of the memory layouts of minigrad.testing.layouts, here made by views inside
the graph (``LAYOUTS``): contiguous, transposed (all axes reversed in memory),
strided (every other element of a larger array) and reversed (negative
strides); the output goes through the same view, so the gradient reaching the
op is laid out alike. The batch-last layout conv2d itself hands on is read
by a second conv2d. Gradient checks (at gradcheck's defaults, rtol 1e-5 and
atol 1e-6) use smaller cases, since each runs two forwards per element.
"""
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import DEVICES, host, on
from hypothesis import example, given
from hypothesis import strategies as st

import minigrad
import minigrad.functional as F
from minigrad import Tensor, memory, nn
from minigrad.ops import conv
from minigrad.reference import conv2d_naive, fold_naive, unfold_naive
from minigrad.testing import compare_with_torch, gradcheck
from minigrad.testing.strategies import ConvGeometry, conv_geometry

seeds = st.integers(0, 2**32 - 1)
dtypes = pytest.mark.parametrize("dtype", [np.float64, np.float32])
devices = pytest.mark.parametrize("device", DEVICES)


# ----- geometry ------------------------------------------------------------------------------

small_cases = conv_geometry(max_batch=2, max_groups=2, max_group_channels=2, max_size=6,
                            max_kernel=3)

# Always tried as well as the drawn ones: the largest sizes with strides that do not tile,
# a kernel reaching into both paddings, a 1-pixel-high image, stride 1 with and without
# padding, dilation, grouped and depthwise convolutions.
BIG = ConvGeometry(3, 4, 12, 11, 4, kernel=(5, 3), stride=(3, 2), padding=(2, 1))
TIGHT = ConvGeometry(2, 3, 2, 3, 2, kernel=(5, 4), stride=(2, 1), padding=(2, 1))
FLAT = ConvGeometry(1, 2, 1, 12, 3, kernel=(1, 5), stride=(1, 3), padding=(0, 2))
WIDE = ConvGeometry(2, 3, 7, 9, 4, kernel=(3, 5), padding=(1, 2))
UNPADDED = ConvGeometry(2, 2, 5, 4, 3, kernel=(2, 3))
DILATED = ConvGeometry(2, 2, 9, 8, 3, kernel=(3, 2), stride=(2, 1), padding=(1, 0),
                       dilation=(3, 2))
GROUPED = ConvGeometry(2, 6, 7, 6, 4, kernel=(3, 3), stride=(1, 2), padding=(1, 1), groups=2)
DEPTHWISE = ConvGeometry(2, 3, 6, 7, 6, kernel=(3, 2), padding=(1, 1), dilation=(2, 1),
                         groups=3)
SMALL = ConvGeometry(2, 2, 6, 5, 2, kernel=(3, 3), stride=(3, 2), padding=(1, 2),
                     dilation=(1, 2), groups=2)

LAYOUTS = {  # name: (storage made from an array, its view in minigrad, the same view in torch)
    "contiguous": (lambda a: a, lambda t: t, lambda t: t),
    "transposed": (lambda a: a.T.copy(), lambda t: t.T,
                   lambda t: t.permute(*reversed(range(t.ndim)))),
    "strided": (lambda a: np.repeat(a, 2, axis=-1), lambda t: t[..., ::2], lambda t: t[..., ::2]),
    "reversed": (lambda a: a[..., ::-1].copy(), lambda t: t[..., ::-1], lambda t: t.flip(-1)),
}
layouts = st.sampled_from(sorted(LAYOUTS))


def with_examples(*geometries):
    """@example for each geometry (seed 0, contiguous and transposed) on top of the drawn ones."""
    def decorate(test):
        for g in geometries:
            test = example(g=g, seed=0, layout="contiguous")(test)
        return example(g=geometries[0], seed=0, layout="transposed")(test)
    return decorate


big_examples = with_examples(BIG, TIGHT, FLAT, WIDE, UNPADDED, DILATED, GROUPED, DEPTHWISE)
small_examples = with_examples(SMALL, FLAT, UNPADDED)


def _random(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype(dtype)


def laid_out(layout, fn, side, inputs):
    """``fn`` whose first ``inputs`` arguments and whose output go through the layout's
    view; ``side`` is 'ours' or 'torch'. Its arguments are the layout's storages."""
    view = LAYOUTS[layout][1 if side == "ours" else 2]

    def wrapped(*args):
        args = [view(a) if i < inputs else a for i, a in enumerate(args)]
        return view(fn(*args))
    return wrapped


def stored(layout, *arrays):
    """The layout's storage for each array."""
    return [LAYOUTS[layout][0](a) for a in arrays]


def compared(layout, fn, torch_fn, arrays, inputs, device, seed=0):
    """compare_with_torch of fn and torch_fn, both seeing ``layout``'s views of the arrays."""
    return compare_with_torch(laid_out(layout, fn, "ours", inputs),
                              laid_out(layout, torch_fn, "torch", inputs),
                              *stored(layout, *arrays[:inputs]), *arrays[inputs:],
                              device=device, seed=seed % 1000)


def gradchecked(layout, fn, arrays, inputs, device):
    """gradcheck of fn, seeing ``layout``'s views of the arrays (float64 on ``device``)."""
    tensors = [on(device, a) for a in stored(layout, *arrays[:inputs]) + list(arrays[inputs:])]
    return gradcheck(laid_out(layout, fn, "ours", inputs), *tensors)


# ----- unfold and fold -----------------------------------------------------------------------

@devices
@given(g=conv_geometry(), seed=seeds, layout=layouts)
@big_examples
def test_unfold_matches_torch_and_the_naive_loops_exactly(device, g, seed, layout):
    x = _random(g.input_shape, seed)
    (storage,) = stored(layout, x)
    view = LAYOUTS[layout][1]
    ours = host(F.unfold(view(on(device, storage)), *g.window))
    assert ours.shape == g.cols_shape
    np.testing.assert_array_equal(ours, TF.unfold(torch.from_numpy(x), *g.window).numpy())
    np.testing.assert_array_equal(ours, unfold_naive(x, *g.window))  # a pure copy: exact


@devices
@given(g=conv_geometry(), seed=seeds, layout=layouts)
@big_examples
def test_fold_matches_torch(device, g, seed, layout):
    cols = _random(g.cols_shape, seed)
    (storage,) = stored(layout, cols)
    view = LAYOUTS[layout][1]
    ours = host(F.fold(view(on(device, storage)), (g.h, g.w), *g.window))
    assert ours.shape == g.input_shape
    expected = TF.fold(torch.from_numpy(cols), (g.h, g.w), *g.window).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours, fold_naive(cols, (g.h, g.w), *g.window),
                               rtol=1e-12, atol=1e-12)


@devices
@dtypes
@given(g=conv_geometry(), seed=seeds, layout=layouts)
@big_examples
def test_unfold_and_fold_gradients_match_torch(device, dtype, g, seed, layout):
    x, cols = _random(g.input_shape, seed, dtype), _random(g.cols_shape, seed + 1, dtype)
    assert compared(layout, lambda t: F.unfold(t, *g.window), lambda t: TF.unfold(t, *g.window),
                    [x], 1, device, seed)
    size = (g.h, g.w)
    assert compared(layout, lambda t: F.fold(t, size, *g.window),
                    lambda t: TF.fold(t, size, *g.window), [cols], 1, device, seed)


@devices
@given(g=conv_geometry(), seed=seeds)
@example(g=BIG, seed=0)
@example(g=DILATED, seed=0)
def test_fold_is_the_adjoint_of_unfold(device, g, seed):
    """⟨unfold(x), u⟩ = ⟨x, fold(u)⟩ for random x and u."""
    x, u = _random(g.input_shape, seed), _random(g.cols_shape, seed + 1)
    unfolded = host(F.unfold(on(device, x), *g.window))
    folded = host(F.fold(on(device, u), (g.h, g.w), *g.window))
    np.testing.assert_allclose(np.sum(unfolded * u), np.sum(x * folded), rtol=1e-12, atol=1e-12)


@devices
def test_fold_sums_overlapping_patches(device):
    """A 3×3 image, 2×2 kernel, stride 1: the centre pixel lies in all four patches."""
    image = host(F.fold(on(device, np.ones((1, 4, 4))), (3, 3), 2))
    np.testing.assert_array_equal(image[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@devices
@given(g=small_cases, seed=seeds, layout=layouts)
@small_examples
def test_unfold_and_fold_gradients_match_finite_differences(device, g, seed, layout):
    assert gradchecked(layout, lambda t: F.unfold(t, *g.window),
                       [_random(g.input_shape, seed)], 1, device)
    assert gradchecked(layout, lambda t: F.fold(t, (g.h, g.w), *g.window),
                       [_random(g.cols_shape, seed)], 1, device)


# ----- conv2d --------------------------------------------------------------------------------

def _conv_inputs(g, seed, dtype=np.float64, bias=True):
    arrays = [_random(g.input_shape, seed, dtype), _random(g.weight_shape, seed + 1, dtype)]
    return arrays + [_random((g.out_channels,), seed + 2, dtype)] if bias else arrays


@devices
@given(g=conv_geometry(), seed=seeds)
@example(g=BIG, seed=0)
@example(g=DILATED, seed=0)
@example(g=DEPTHWISE, seed=0)
def test_conv2d_matches_the_naive_loops(device, g, seed):
    x, w, b = _conv_inputs(g, seed)
    ours = host(F.conv2d(on(device, x), on(device, w), on(device, b), *g.conv))
    assert ours.shape == (g.n, g.out_channels) + g.out_size
    np.testing.assert_allclose(ours, conv2d_naive(x, w, b, *g.conv), rtol=1e-12, atol=1e-12)


@devices
@dtypes
@given(g=conv_geometry(), seed=seeds, layout=layouts)
@big_examples
def test_conv2d_values_and_all_three_gradients_match_torch(device, dtype, g, seed, layout):
    """x and the weight in ``layout``, as is the output (and so the gradient conv2d receives)."""
    assert compared(layout, lambda x, w, b: F.conv2d(x, w, b, *g.conv),
                    lambda x, w, b: TF.conv2d(x, w, b, *g.conv),
                    _conv_inputs(g, seed, dtype), 2, device, seed)


@devices
@dtypes
@given(g=conv_geometry(), seed=seeds, layout=layouts)
@big_examples
def test_conv2d_without_bias_matches_torch(device, dtype, g, seed, layout):
    assert compared(layout, lambda x, w: F.conv2d(x, w, None, *g.conv),
                    lambda x, w: TF.conv2d(x, w, None, *g.conv),
                    _conv_inputs(g, seed, dtype, bias=False), 2, device, seed)


@devices
@given(g=small_cases, seed=seeds, layout=layouts)
@small_examples
def test_conv2d_gradients_match_finite_differences(device, g, seed, layout):
    assert gradchecked(layout, lambda x, w, b: F.conv2d(x, w, b, *g.conv),
                       _conv_inputs(g, seed), 2, device)


@devices
@given(g=small_cases, seed=seeds, layout=layouts)
@small_examples
def test_conv2d_without_bias_gradients_match_finite_differences(device, g, seed, layout):
    assert gradchecked(layout, lambda x, w: F.conv2d(x, w, None, *g.conv),
                       _conv_inputs(g, seed, bias=False), 2, device)


@devices
@dtypes
@given(g=conv_geometry(), seed=seeds)
@example(g=GROUPED, seed=0)
def test_a_conv2d_reads_the_batch_last_output_of_another(device, dtype, g, seed):
    """conv2d's output is (O, OH, OW, N) in memory, seen as (N, O, OH, OW); a second
    conv2d takes it as input and sends its gradient back in its own layout."""
    arrays = _conv_inputs(g, seed, dtype) + [_random((3, g.out_channels, 2, 1), seed + 3, dtype)]
    y = F.conv2d(*[on(device, a) for a in arrays[:3]], *g.conv)
    if g.n > 1 and g.out_channels > 1 and device == "cpu":
        assert y.data.transpose(1, 2, 3, 0).flags.c_contiguous and not y.data.flags.c_contiguous
    assert compare_with_torch(
        lambda x, w, b, w2: F.conv2d(F.conv2d(x, w, b, *g.conv), w2, padding=(1, 0)),
        lambda x, w, b, w2: TF.conv2d(TF.conv2d(x, w, b, *g.conv), w2, padding=(1, 0)),
        *arrays, device=device, seed=seed % 1000)


@devices
def test_conv2d_gradient_only_for_the_inputs_that_ask(device):
    """A frozen weight gets no gradient; the input still gets the right one."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    ours_x, ours_w = on(device, x), on(device, w, requires_grad=False)
    F.conv2d(ours_x, ours_w, None, 2, 1).sum().backward()
    theirs_x = torch.from_numpy(x).requires_grad_()
    TF.conv2d(theirs_x, torch.from_numpy(w), None, 2, 1).sum().backward()
    assert ours_w.grad is None
    np.testing.assert_allclose(host(ours_x.grad), theirs_x.grad.numpy(), rtol=1e-12, atol=1e-12)


# ----- padding='same' / 'valid', unbatched inputs, empty batches ------------------------------

@st.composite
def same_cases(draw):
    """Stride-1 geometry with any kernel (even ones too: an odd total padding) and dilation."""
    g = draw(conv_geometry(max_kernel=5, max_stride=1, max_padding=0))
    return g, draw(st.sampled_from(["same", "valid"]))


@devices
@dtypes
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@given(case=same_cases(), seed=seeds)
@example(case=(ConvGeometry(2, 2, 5, 6, 3, kernel=(4, 3), dilation=(1, 3)), "same"), seed=0)
@example(case=(ConvGeometry(1, 2, 4, 4, 2, kernel=(2, 2), groups=2), "same"), seed=0)
def test_padding_same_and_valid_match_torch(device, dtype, case, seed):
    g, padding = case
    arrays = _conv_inputs(g, seed, dtype)

    def ours(x, w, b):
        return F.conv2d(x, w, b, 1, padding, g.dilation, g.groups)

    def theirs(x, w, b):
        return TF.conv2d(x, w, b, 1, padding, g.dilation, g.groups)

    assert compare_with_torch(ours, theirs, *arrays, device=device, seed=seed % 1000)
    if padding == "same":
        assert ours(*[on(device, a) for a in arrays]).shape[2:] == (g.h, g.w)


@devices
@given(g=conv_geometry(max_batch=1), seed=seeds)
@example(g=DEPTHWISE, seed=0)
def test_unbatched_inputs_match_torch(device, g, seed):
    """(C, H, W) into conv2d and unfold, (C·KH·KW, L) into fold, as in PyTorch."""
    x, w, b = _conv_inputs(g, seed)
    assert compare_with_torch(lambda x, w, b: F.conv2d(x, w, b, *g.conv),
                              lambda x, w, b: TF.conv2d(x, w, b, *g.conv), x[0], w, b,
                              device=device)
    assert compare_with_torch(lambda x: F.unfold(x, *g.window), lambda x: TF.unfold(x, *g.window),
                              x[0], device=device)
    cols = _random(g.cols_shape[1:], seed)
    size = (g.h, g.w)
    assert compare_with_torch(lambda u: F.fold(u, size, *g.window),
                              lambda u: TF.fold(u, size, *g.window), cols, device=device)


@devices
@pytest.mark.parametrize("g", [BIG, GROUPED, DEPTHWISE], ids=["big", "grouped", "depthwise"])
def test_an_empty_batch_works_as_in_torch(device, g):
    """N = 0: the output (0, O, OH, OW); backward gives zero weight and bias gradients."""
    g = replace(g, n=0)
    arrays = _conv_inputs(g, 0)
    assert compare_with_torch(lambda x, w, b: F.conv2d(x, w, b, *g.conv),
                              lambda x, w, b: TF.conv2d(x, w, b, *g.conv), *arrays, device=device)
    y = F.conv2d(*[on(device, a) for a in arrays], *g.conv)
    assert y.shape == (0, g.out_channels) + g.out_size
    assert compare_with_torch(lambda x: F.unfold(x, *g.window), lambda x: TF.unfold(x, *g.window),
                              arrays[0], device=device)
    cols = np.zeros(g.cols_shape)
    assert F.fold(on(device, cols), (g.h, g.w), *g.window).shape == g.input_shape


# ----- the nn.Conv2d layer -------------------------------------------------------------------

LAYER_ARGUMENTS = [
    dict(in_channels=2, out_channels=4, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0),
         dilation=(1, 2), groups=2),
    dict(in_channels=3, out_channels=3, kernel_size=3, padding="same", groups=3, bias=False),
    dict(in_channels=2, out_channels=2, kernel_size=(4, 2), padding="same", dilation=(1, 3)),
    dict(in_channels=2, out_channels=3, kernel_size=2, padding="valid", stride=2),
]


@devices
@dtypes
@pytest.mark.parametrize("arguments", LAYER_ARGUMENTS,
                         ids=["plain", "grouped-dilated", "depthwise-same", "same-even", "valid"])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d_layer_matches_torch_with_the_same_weights(device, dtype, arguments):
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(**arguments)
    if dtype == np.float64:
        theirs.double()
    ours = nn.Conv2d(**arguments)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert repr(ours) == repr(theirs)
    state = {name: value.detach().numpy() for name, value in theirs.state_dict().items()}
    for p in ours.parameters():
        p.data = p.data.astype(dtype)
    ours.load_state_dict(state)
    ours.to(device)
    x = _random((2, arguments["in_channels"], 7, 6), 1, dtype)
    y = ours(on(device, x))
    expected = theirs(torch.from_numpy(x))
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(host(y), expected.detach().numpy(), rtol=rtol, atol=rtol)
    upstream = _random(tuple(expected.shape), 2, dtype)
    y.backward(on(device, upstream, requires_grad=False))
    expected.backward(torch.from_numpy(upstream))
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(host(p.grad), q.grad.numpy(), rtol=rtol, atol=rtol, err_msg=name)


def test_conv2d_layer_initialises_as_torch_does():
    """Uniform on ±1/√fan_in with fan_in = in_channels/groups · KH · KW."""
    minigrad.manual_seed(0)
    layer = nn.Conv2d(8, 4, (3, 2), groups=4)
    bound = 1 / np.sqrt(2 * 3 * 2)
    assert layer.weight.shape == (4, 2, 3, 2) and layer.bias.shape == (4,)
    assert np.abs(layer.bias.numpy()).max() <= bound
    assert 0.9 * bound < np.abs(layer.weight.numpy()).max() <= bound


@pytest.mark.parametrize("arguments, message", [
    (dict(padding_mode="reflect"), "padding_mode='reflect' is not supported"),
    (dict(padding_mode="circular"), "padding_mode='circular' is not supported"),
    (dict(padding="same", stride=2), "padding='same' is not supported for strided"),
    (dict(padding="full"), "padding must be an int, a pair, 'valid' or 'same', got 'full'"),
    (dict(groups=4), "in_channels=6 must be divisible by groups=4"),
    (dict(groups=3, in_channels=3, out_channels=4), "out_channels=4 must be divisible by groups"),
    (dict(groups=0), "groups must be a positive integer, got 0"),
])
def test_conv2d_layer_rejects_what_it_cannot_do(arguments, message):
    arguments = dict(dict(in_channels=6, out_channels=6, kernel_size=3), **arguments)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        nn.Conv2d(**arguments)


@pytest.mark.parametrize("name, value", [("kernel_size", 1.5), ("stride", (1, "2")),
                                         ("dilation", True), ("padding", (1, 2, 3))])
def test_conv2d_layer_names_a_bad_argument(name, value):
    with pytest.raises(minigrad.ShapeError, match=f"Conv2d: {name} must be an int or a pair"):
        nn.Conv2d(**dict(dict(in_channels=1, out_channels=1, kernel_size=3), **{name: value}))


# ----- output size ---------------------------------------------------------------------------

@pytest.mark.parametrize("size, expected", [((1024, 768), (511, 383)), ((1920, 1080), (959, 539))])
def test_conv_output_size_for_a_5x5_kernel_pad_1_stride_2(size, expected):
    assert F.conv_output_size(size, 5, 2, 1) == expected
    assert F.conv_output_size(size[0], 5, 2, 1) == expected[0]


def test_conv_output_size_of_pairs_checks_them_as_conv2d_does():
    with pytest.raises(minigrad.ShapeError, match=r"conv_output_size: the kernel spans \(5, 9\)"):
        F.conv_output_size((3, 8), 5, dilation=(1, 2))
    with pytest.raises(minigrad.ShapeError, match="conv_output_size: stride must be an int"):
        F.conv_output_size((3, 8), 2, stride=1.5)


@given(g=conv_geometry(max_dilation=4))
@example(g=DILATED)
def test_conv_output_size_with_dilation_equals_torchs_output_shape(g):
    x, w = torch.empty(g.input_shape, device="meta"), torch.empty(g.weight_shape, device="meta")
    out = TF.conv2d(x, w, None, *g.conv)
    size = F.conv_output_size((g.h, g.w), g.kernel, g.stride, g.padding, g.dilation)
    assert size == tuple(out.shape[2:])
    assert F.conv_output_size(g.h, g.kernel[0], g.stride[0], g.padding[0],
                              g.dilation[0]) == out.shape[2]


# ----- the memory budget ---------------------------------------------------------------------

class memory_budget:
    """``with memory_budget(nbytes):`` conv2d's budget for U, restored afterwards."""

    def __init__(self, nbytes):
        self.nbytes = nbytes

    def __enter__(self):
        self.previous = memory.set_memory_budget(self.nbytes)

    def __exit__(self, *exc):
        memory.set_memory_budget(self.previous)


def _u_bytes_per_image(g, itemsize=8):
    oh, ow = g.out_size
    return g.c * g.kernel[0] * g.kernel[1] * oh * ow * itemsize


@devices
@given(g=conv_geometry(max_batch=5), seed=seeds, data=st.data())
@example(g=ConvGeometry(5, 4, 6, 6, 2, kernel=(3, 3), padding=(1, 1), groups=2), seed=0, data=None)
def test_a_batch_over_the_budget_is_convolved_in_chunks_with_the_same_result(device, g, seed,
                                                                            data):
    chunk = 2 if data is None else data.draw(st.integers(1, max(g.n - 1, 1)))
    arrays = _conv_inputs(g, seed)

    def run(chunked):
        tensors = [on(device, a) for a in arrays]
        y = F.conv2d(*tensors, *g.conv)
        if chunked:
            assert type(y.grad_fn) is memory.ChunkedConvolution and y.grad_fn.chunk == chunk
        else:
            assert type(y.grad_fn) is conv.Convolution
        y.backward(on(device, _random(y.shape, seed + 3), requires_grad=False))
        return [host(t) for t in [y] + [t.grad for t in tensors]]

    with memory_budget(10**12):
        plain = run(chunked=False)
    with memory_budget(chunk * _u_bytes_per_image(g) + 7):  # room for `chunk` images' U
        chunked = run(chunked=chunk < g.n)
    for name, ours, expected in zip(["output", "dx", "dw", "db"], chunked, plain):
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-13, err_msg=name)


def _peak_bytes(fn):
    """The peak of memory allocated while fn runs (NumPy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_chunks_keep_the_peak_memory_within_the_budget():
    """U of the whole batch is 6.5 MB; with a budget of one image's U (0.8 MB) the peak
    of forward + backward stays near two of them (U and dU of one chunk) plus the
    input- and output-sized arrays, while the plain path does hold the whole U."""
    g = ConvGeometry(8, 4, 32, 32, 1, kernel=(5, 5), padding=(2, 2))
    x, w, b = (Tensor(a, requires_grad=True) for a in _conv_inputs(g, 0))
    whole_u = g.n * _u_bytes_per_image(g)

    def step():
        F.conv2d(x, w, b, *g.conv).sum().backward()

    assert _peak_bytes(step) >= whole_u
    budget = _u_bytes_per_image(g)
    with memory_budget(budget):
        peak = _peak_bytes(step)
    output_bytes = g.n * g.out_channels * g.out_size[0] * g.out_size[1] * 8
    assert peak <= 2 * budget + 4 * (x.data.nbytes + output_bytes) < whole_u


def test_one_image_over_the_budget_is_refused_with_the_size_it_needs():
    """A 10,000 × 10,000 image into a 3×3 conv: U would be 3.6 GB in float32. The error
    comes before any allocation (the input here is a broadcast view: no memory)."""
    x = Tensor(np.broadcast_to(np.float32(0), (1, 1, 10_000, 10_000)))
    w = Tensor(np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(MemoryError, match=r"needs 3,598,560,144 bytes, more than the memory "
                                          r"budget of 536,870,912 bytes"):
        F.conv2d(x, w)
    with memory_budget(1000), pytest.raises(MemoryError, match="set_memory_budget"):
        F.conv2d(Tensor(np.zeros((1, 1, 10, 10), np.float32)), w)


@pytest.mark.parametrize("nbytes", [0, -1, 1.5, True, "1GB"])
def test_set_memory_budget_rejects_a_bad_value(nbytes):
    with pytest.raises(ValueError, match="set_memory_budget: nbytes must be a positive int"):
        memory.set_memory_budget(nbytes)


@devices
def test_a_one_tuple_is_a_pair_as_in_torch(device):
    """PyTorch reads ``stride=(2,)`` as ``(2, 2)`` and ``padding=(1,)`` as ``(1, 1)``."""
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
    args = dict(stride=(2,), padding=(1,), dilation=(1,))
    assert compare_with_torch(lambda a, b: F.conv2d(a, b, **args),
                              lambda a, b: TF.conv2d(a, b, **args), x, w, device=device)


# ----- errors --------------------------------------------------------------------------------

@devices
@pytest.mark.parametrize("call, message", [
    (lambda x, w: F.conv2d(x, w, stride=1.5), "conv2d: stride must be an int or a pair"),
    (lambda x, w: F.conv2d(x, w, stride=True), "conv2d: stride must be an int or a pair"),
    (lambda x, w: F.conv2d(x, w, stride="2"), "conv2d: stride must be an int or a pair"),
    (lambda x, w: F.conv2d(x, w, padding=(1, 2, 3)), "conv2d: padding must be an int or a pair"),
    (lambda x, w: F.conv2d(x, w, dilation=0), r"conv2d: dilation must be ≥ 1"),
    (lambda x, w: F.conv2d(x, w, stride=(1, 0)), r"conv2d: stride must be ≥ 1"),
    (lambda x, w: F.conv2d(x, w, padding=(0, -2)), r"conv2d: padding must be ≥ 0"),
    (lambda x, w: F.conv2d(x, w, groups=1.5), "conv2d: groups must be a positive int"),
    (lambda x, w: F.conv2d(x, w, groups=0), "conv2d: groups must be a positive int"),
    (lambda x, w: F.conv2d(x, w, groups=4), "conv2d: groups=4 must divide the weight's 2 output"),
    (lambda x, w: F.conv2d(x, w, groups=2), r"conv2d: expected 2 input channels, got 1 .*groups=2"),
    (lambda x, w: F.conv2d(x, w[0]), r"conv2d: expected a 4-D weight"),
    (lambda x, w: F.unfold(x, 2, stride=0.5), "unfold: stride must be an int or a pair"),
    (lambda x, w: F.unfold(x, 2, dilation=(1, 1, 1)), "unfold: dilation must be an int or a pair"),
    (lambda x, w: F.fold(x[0], (4, 4), "2"), "fold: kernel_size must be an int or a pair"),
    (lambda x, w: F.fold(x[0], 4.0, 2), "fold: output_size must be an int or a pair"),
])
def test_bad_arguments_are_errors_naming_the_function_and_the_argument(device, call, message):
    """All are ShapeErrors, so a ``except ValueError`` catches them too."""
    x = on(device, np.zeros((2, 1, 5, 5)))
    w = on(device, np.zeros((2, 1, 3, 3)))
    with pytest.raises(minigrad.ShapeError, match=message) as error:
        call(x, w)
    assert isinstance(error.value, ValueError)


@devices
@pytest.mark.parametrize("padding, message", [
    ("full", "conv2d: padding must be an int, a pair, 'valid' or 'same', got 'full'"),
    ("same", r"conv2d: padding='same' is not supported for strided convolutions \(stride=2\)"),
])
def test_bad_padding_strings_are_errors(device, padding, message):
    x, w = on(device, np.zeros((1, 1, 5, 5))), on(device, np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=message):
        F.conv2d(x, w, stride=2, padding=padding)


@devices
@pytest.mark.parametrize("which", ["weight", "bias"])
def test_a_float64_input_into_a_float32_conv_is_an_error_naming_both_dtypes(device, which):
    x = on(device, np.zeros((1, 2, 5, 5)))  # float64
    w = on(device, np.zeros((3, 2, 3, 3), np.float32 if which == "weight" else np.float64))
    b = on(device, np.zeros(3, np.float32 if which == "bias" else np.float64))
    with pytest.raises(TypeError, match=f"conv2d: the input is float64 but the {which} is float32"):
        F.conv2d(x, w, b)
    layer = nn.Conv2d(2, 3, 3).to(device)
    with pytest.raises(TypeError, match="the input is float64 but the weight is float32"):
        layer(x)


@devices
def test_conv2d_layer_rejects_the_wrong_channel_count(device):
    layer = nn.Conv2d(3, 16, 5).to(device)
    x = on(device, np.zeros((2, 8, 32, 32), dtype=np.float32), requires_grad=False)
    with pytest.raises(minigrad.ShapeError) as error:
        layer(x)
    message = str(error.value)
    assert "expected 3 input channels, got 8" in message
    assert "Conv2d" in message
    assert "(2, 8, 32, 32)" in message          # the input shape
    assert "(16, 3, 5, 5)" in message           # the weight shape


@devices
def test_conv2d_rejects_a_kernel_larger_than_the_padded_input(device):
    x, w = on(device, np.zeros((1, 1, 3, 4))), on(device, np.zeros((1, 1, 5, 5)))
    expected = r"conv2d: the kernel spans \(5, 5\), more than the padded input \(3, 4\)"
    with pytest.raises(minigrad.ShapeError, match=expected):
        F.conv2d(x, w, padding=(0, 0))
    with pytest.raises(minigrad.ShapeError, match=r"spans \(5, 9\).*dilation \(1, 2\)"):
        F.conv2d(x, w, padding=1, dilation=(1, 2))
    F.conv2d(x, w, padding=1)  # 5×6 padded: fits


def re_shape(shape):
    """A shape tuple as a regular expression matching its repr."""
    return repr(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@devices
@pytest.mark.parametrize("shape", [(1, 1, 3, 8, 8), (8, 8), (8,)])
def test_conv2d_and_unfold_reject_an_input_that_is_not_3d_or_4d(device, shape):
    x = on(device, np.zeros(shape))
    expected = r"3-D input \(C, H, W\) or a 4-D input \(N, C, H, W\), got shape " + re_shape(shape)
    with pytest.raises(minigrad.ShapeError, match="conv2d: expected a " + expected):
        F.conv2d(x, on(device, np.zeros((2, 3, 3, 3))))
    with pytest.raises(minigrad.ShapeError, match="unfold: expected a " + expected):
        F.unfold(x, 2)


@devices
def test_unfold_and_fold_reject_bad_geometry(device):
    x = on(device, np.zeros((1, 2, 4, 4)))
    with pytest.raises(minigrad.ShapeError, match="unfold: stride"):
        F.unfold(x, 2, stride=0)
    with pytest.raises(minigrad.ShapeError, match="unfold: the kernel spans"):
        F.unfold(x, 5)
    with pytest.raises(minigrad.ShapeError, match=r"fold: expected columns \(N, C·2·2, 9\)"):
        F.fold(on(device, np.zeros((1, 8, 10))), (4, 4), 2)  # 3×3 = 9 positions, not 10
    with pytest.raises(minigrad.ShapeError, match=r"fold: expected a 2-D input \(C·KH·KW, L\)"):
        F.fold(x, (4, 4), 2)


@devices
def test_linear_layer_rejects_the_wrong_feature_count(device):
    layer = nn.Linear(576, 10).to(device)
    with pytest.raises(minigrad.ShapeError) as error:
        layer(on(device, np.zeros((4, 600), dtype=np.float32)))
    message = str(error.value)
    assert "in_features=576" in message and "out_features=10" in message
    assert "576 input features" in message
    assert "(4, 600)" in message


@devices
def test_max_pooling_rejects_an_input_smaller_than_its_window(device):
    x = on(device, np.zeros((2, 3, 1, 5)))
    with pytest.raises(minigrad.ShapeError, match=r"max_pool2d: the kernel spans \(2, 2\), more "
                                                  r"than the padded input \(1, 5\)"):
        F.max_pool2d(x, 2)
    with pytest.raises(minigrad.ShapeError, match="MaxPool2d"):
        nn.MaxPool2d(2)(x)


@devices
def test_errors_inside_sequential_name_the_layer_index(device):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(10, 2)).to(device)
    x = on(device, np.zeros((2, 1, 6, 6), dtype=np.float32), requires_grad=False)
    with pytest.raises(minigrad.ShapeError) as error:
        model(x)  # 4·4·4 = 64 features reach a Linear expecting 10
    message = str(error.value)
    assert "layer 3" in message and "Linear" in message and "(2, 64)" in message
    expected = r"layer 0.*Conv2d.*expected 1 input channels, got 3"
    with pytest.raises(minigrad.ShapeError, match=expected):
        model(on(device, np.zeros((2, 3, 6, 6), dtype=np.float32)))
