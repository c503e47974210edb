"""Convolution: unfold / fold / conv2d against PyTorch, the naive loops in
minigrad.reference, and finite differences; output sizes; shape errors.

Geometry comes from ``conv_geometry()``: batch 1–3, channels 1–4, H and W
1–12 drawn independently, kernel 1–5 per axis, stride 1–3, padding 0–2,
including sizes where (size + 2·padding − kernel) is not a multiple of the
stride. Gradient checks use a smaller geometry, since each one runs two
forwards per input element.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import example, given
from hypothesis import strategies as st

import minigrad
import minigrad.functional as F
from minigrad import nn
from minigrad.reference import conv2d_naive, unfold_naive
from minigrad.testing import compare_with_torch, gradcheck
from minigrad.testing.strategies import ConvGeometry, conv_geometry
from helpers import DEVICES, host, on

seeds = st.integers(0, 2**32 - 1)
small_geometry = conv_geometry(max_batch=2, max_channels=2, max_size=6, max_kernel=4)

# Always tried as well as the drawn ones: the largest sizes with strides that do not divide
# (size + 2·padding − kernel), a kernel reaching into both paddings, a 1-pixel-high image,
# and stride 1 with and without padding (conv2d may take a separate path for stride 1).
def geometry(n, c, h, w, out_channels, kernel, stride, padding):
    return ConvGeometry(n=n, c=c, h=h, w=w, out_channels=out_channels, kernel=kernel,
                        stride=stride, padding=padding)


BIG = geometry(3, 4, 12, 11, 4, kernel=(5, 3), stride=(3, 2), padding=(2, 1))
TIGHT = geometry(2, 3, 2, 3, 2, kernel=(5, 4), stride=(2, 1), padding=(2, 1))
FLAT = geometry(1, 2, 1, 12, 3, kernel=(1, 5), stride=(1, 3), padding=(0, 2))
WIDE = geometry(2, 3, 7, 9, 4, kernel=(3, 5), stride=(1, 1), padding=(1, 2))
UNPADDED = geometry(2, 2, 5, 4, 3, kernel=(2, 3), stride=(1, 1), padding=(0, 0))
SMALL = geometry(2, 2, 6, 5, 2, kernel=(4, 3), stride=(3, 2), padding=(1, 2))


def with_examples(*geometries):
    """@example for each geometry (seed 0) on top of the drawn ones."""
    def decorate(test):
        for g in geometries:
            test = example(g=g, seed=0)(test)
        return test
    return decorate


big_examples = with_examples(BIG, TIGHT, FLAT, WIDE, UNPADDED)
small_examples = with_examples(SMALL, FLAT, UNPADDED)


def _random(shape, seed, dtype=np.float64, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(dtype)


def _cols_shape(g):
    """(N, C·KH·KW, L) for a ConvGeometry."""
    oh, ow = g.out_size
    return (g.n, g.c * g.kernel[0] * g.kernel[1], oh * ow)


def _torch_conv(g):
    return lambda x, w, b=None: TF.conv2d(x, w, b, stride=g.stride, padding=g.padding)


# ----- unfold and fold -----------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@given(g=conv_geometry(), seed=seeds)
@big_examples
def test_unfold_matches_torch_and_the_naive_loops(device, g, seed):
    x = _random(g.input_shape, seed)
    ours = host(F.unfold(on(device, x), g.kernel, g.stride, g.padding))
    expected = TF.unfold(torch.from_numpy(x), g.kernel, padding=g.padding, stride=g.stride).numpy()
    assert ours.shape == _cols_shape(g)
    np.testing.assert_array_equal(ours, expected)  # a pure copy: exact
    np.testing.assert_array_equal(ours, unfold_naive(x, g.kernel, g.stride, g.padding))


@pytest.mark.parametrize("device", DEVICES)
@given(g=conv_geometry(), seed=seeds)
@big_examples
def test_fold_matches_torch(device, g, seed):
    cols = _random(_cols_shape(g), seed)
    ours = host(F.fold(on(device, cols), (g.h, g.w), g.kernel, g.stride, g.padding))
    expected = TF.fold(torch.from_numpy(cols), (g.h, g.w), g.kernel, padding=g.padding,
                       stride=g.stride).numpy()
    assert ours.shape == g.input_shape
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@given(g=conv_geometry(), seed=seeds)
@big_examples
def test_fold_is_the_adjoint_of_unfold(device, g, seed):
    """⟨unfold(x), y⟩ = ⟨x, fold(y)⟩ for random x and y."""
    x = _random(g.input_shape, seed)
    y = _random(_cols_shape(g), seed + 1)
    unfolded = host(F.unfold(on(device, x), g.kernel, g.stride, g.padding))
    folded = host(F.fold(on(device, y), (g.h, g.w), g.kernel, g.stride, g.padding))
    left, right = np.sum(unfolded * y), np.sum(x * folded)
    np.testing.assert_allclose(left, right, rtol=1e-12, atol=1e-12)


def test_fold_sums_overlapping_patches():
    """A 3×3 image, 2×2 kernel, stride 1: the centre pixel lies in all four patches."""
    ones = np.ones((1, 4, 4))
    image = host(F.fold(on("cpu", ones), (3, 3), 2))
    np.testing.assert_array_equal(image[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@pytest.mark.parametrize("device", DEVICES)
@given(g=small_geometry, seed=seeds)
@small_examples
def test_unfold_gradient_matches_finite_differences(device, g, seed):
    x = on(device, _random(g.input_shape, seed))
    assert gradcheck(lambda t: F.unfold(t, g.kernel, g.stride, g.padding), x)


@pytest.mark.parametrize("device", DEVICES)
@given(g=small_geometry, seed=seeds)
@small_examples
def test_fold_gradient_matches_finite_differences(device, g, seed):
    cols = on(device, _random(_cols_shape(g), seed))
    assert gradcheck(lambda t: F.fold(t, (g.h, g.w), g.kernel, g.stride, g.padding), cols)


# ----- conv2d --------------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@given(g=conv_geometry(), seed=seeds)
@big_examples
def test_conv2d_forward_matches_the_naive_loops_and_torch(device, g, seed):
    x, w = _random(g.input_shape, seed), _random(g.weight_shape, seed + 1)
    b = _random((g.out_channels,), seed + 2)
    ours = host(F.conv2d(on(device, x), on(device, w), on(device, b), g.stride, g.padding))
    expected = _torch_conv(g)(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b))
    assert ours.shape == (g.n, g.out_channels) + g.out_size
    np.testing.assert_allclose(ours, conv2d_naive(x, w, b, g.stride, g.padding),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(g=conv_geometry(), seed=seeds)
@big_examples
def test_conv2d_values_and_all_three_gradients_match_torch(device, dtype, g, seed):
    x, w = _random(g.input_shape, seed, dtype), _random(g.weight_shape, seed + 1, dtype)
    b = _random((g.out_channels,), seed + 2, dtype)
    assert compare_with_torch(lambda x, w, b: F.conv2d(x, w, b, g.stride, g.padding),
                              _torch_conv(g), x, w, b, device=device, seed=seed % 1000)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(g=conv_geometry(), seed=seeds)
@big_examples
def test_conv2d_without_bias_matches_torch(device, dtype, g, seed):
    x, w = _random(g.input_shape, seed, dtype), _random(g.weight_shape, seed + 1, dtype)
    assert compare_with_torch(lambda x, w: F.conv2d(x, w, None, g.stride, g.padding),
                              _torch_conv(g), x, w, device=device, seed=seed % 1000)


@pytest.mark.parametrize("device", DEVICES)
@given(g=small_geometry, seed=seeds)
@small_examples
def test_conv2d_gradients_match_finite_differences(device, g, seed):
    x, w = on(device, _random(g.input_shape, seed)), on(device, _random(g.weight_shape, seed + 1))
    b = on(device, _random((g.out_channels,), seed + 2))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, g.stride, g.padding), x, w, b)


@pytest.mark.parametrize("device", DEVICES)
@given(g=small_geometry, seed=seeds)
@small_examples
def test_conv2d_without_bias_gradients_match_finite_differences(device, g, seed):
    x, w = on(device, _random(g.input_shape, seed)), on(device, _random(g.weight_shape, seed + 1))
    assert gradcheck(lambda x, w: F.conv2d(x, w, None, g.stride, g.padding), x, w)


@pytest.mark.parametrize("device", DEVICES)
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


# ----- output size ---------------------------------------------------------------------------

@pytest.mark.parametrize("size, expected", [((1024, 768), (511, 383)), ((1920, 1080), (959, 539))])
def test_conv_output_size_for_a_5x5_kernel_pad_1_stride_2(size, expected):
    assert F.conv_output_size(size, 5, 2, 1) == expected
    assert F.conv_output_size(size[0], 5, 2, 1) == expected[0]


@given(g=conv_geometry())
def test_conv_output_size_equals_torch_output_shape(g):
    x, w = torch.zeros(g.input_shape), torch.zeros(g.weight_shape)
    out = TF.conv2d(x, w, stride=g.stride, padding=g.padding)
    assert F.conv_output_size((g.h, g.w), g.kernel, g.stride, g.padding) == tuple(out.shape[2:])


# ----- shape errors --------------------------------------------------------------------------

def test_shape_error_is_a_value_error():
    assert issubclass(minigrad.ShapeError, ValueError)


@pytest.mark.parametrize("device", DEVICES)
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


@pytest.mark.parametrize("device", DEVICES)
def test_conv2d_rejects_a_kernel_larger_than_the_padded_input(device):
    x, w = on(device, np.zeros((1, 1, 3, 4))), on(device, np.zeros((1, 1, 5, 5)))
    expected = r"kernel \(5, 5\) is larger than the padded input \(3, 4\)"
    with pytest.raises(minigrad.ShapeError, match=expected):
        F.conv2d(x, w, padding=(0, 0))
    F.conv2d(x, w, padding=1)  # 5×6 padded: fits


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("stride", [0, (1, 0), -1])
def test_conv2d_rejects_a_stride_below_one(device, stride):
    x, w = on(device, np.zeros((1, 1, 5, 5))), on(device, np.zeros((1, 1, 3, 3)))
    with pytest.raises(minigrad.ShapeError, match="stride"):
        F.conv2d(x, w, stride=stride)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("padding", [-1, (0, -2)])
def test_conv2d_rejects_negative_padding(device, padding):
    x, w = on(device, np.zeros((1, 1, 5, 5))), on(device, np.zeros((1, 1, 3, 3)))
    with pytest.raises(minigrad.ShapeError, match="padding"):
        F.conv2d(x, w, padding=padding)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(3, 8, 8), (1, 1, 3, 8, 8), (8,)])
def test_conv2d_rejects_an_input_that_is_not_4d(device, shape):
    w = on(device, np.zeros((2, 3, 3, 3)))
    with pytest.raises(minigrad.ShapeError, match=r"4-D input.*" + re_shape(shape)):
        F.conv2d(on(device, np.zeros(shape)), w)


def re_shape(shape):
    """A shape tuple as a regular expression matching its repr."""
    return repr(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("device", DEVICES)
def test_unfold_and_fold_reject_bad_geometry(device):
    x = on(device, np.zeros((1, 2, 4, 4)))
    with pytest.raises(minigrad.ShapeError, match="stride"):
        F.unfold(x, 2, stride=0)
    with pytest.raises(minigrad.ShapeError, match="larger than the padded input"):
        F.unfold(x, 5)
    with pytest.raises(minigrad.ShapeError, match="fold: expected columns"):
        F.fold(on(device, np.zeros((1, 8, 10))), (4, 4), 2)  # 3×3 = 9 positions, not 10


@pytest.mark.parametrize("device", DEVICES)
def test_linear_layer_rejects_the_wrong_feature_count(device):
    layer = nn.Linear(576, 10).to(device)
    with pytest.raises(minigrad.ShapeError) as error:
        layer(on(device, np.zeros((4, 600), dtype=np.float32)))
    message = str(error.value)
    assert "in_features=576" in message and "out_features=10" in message
    assert "576 input features" in message
    assert "(4, 600)" in message


@pytest.mark.parametrize("device", DEVICES)
def test_max_pooling_rejects_an_input_smaller_than_its_window(device):
    x = on(device, np.zeros((2, 3, 1, 5)))
    with pytest.raises(minigrad.ShapeError, match=r"max_pool2d: the kernel spans \(2, 2\), more "
                                                  r"than the padded input \(1, 5\)"):
        F.max_pool2d(x, 2)
    with pytest.raises(minigrad.ShapeError, match="MaxPool2d"):
        nn.MaxPool2d(2)(x)


@pytest.mark.parametrize("device", DEVICES)
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
