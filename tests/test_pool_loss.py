"""Pooling, linear and the losses against PyTorch and finite differences.

Max pooling is checked on ``untied_arrays`` (distinct values, gap ≥ 0.01) so
that the winner of every window is unambiguous and no finite-difference step
can change it; ties get tests of their own, where the rule is PyTorch's: the
first maximum in row-major window order takes the whole gradient.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st

import minigrad.functional as F
from minigrad import Tensor, backend
from minigrad.testing import compare_with_torch, gradcheck
from minigrad.testing.strategies import pool_geometry, untied_array, untied_arrays
from helpers import DEVICES, host, on

seeds = st.integers(0, 2**32 - 1)
dtypes = pytest.mark.parametrize("dtype", [np.float64, np.float32])


def _grads(ours, theirs, upstream, device):
    """Run both backward passes with the same upstream gradient."""
    ours.backward(backend.to_device(np.array(upstream), device))
    theirs.backward(torch.from_numpy(np.array(upstream)))


# ----- max_pool2d ----------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@dtypes
@given(g=pool_geometry(), data=st.data())
def test_max_pool2d_matches_torch(device, dtype, g, data):
    x = data.draw(untied_arrays(g.input_shape, dtype=dtype))
    assert compare_with_torch(lambda x: F.max_pool2d(x, g.kernel, g.stride),
                              lambda x: TF.max_pool2d(x, g.kernel, g.stride), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(g=pool_geometry(max_size=7), seed=seeds)
def test_max_pool2d_gradient_matches_finite_differences(device, g, seed):
    x = on(device, untied_array(g.input_shape, seed))
    assert gradcheck(lambda x: F.max_pool2d(x, g.kernel, g.stride), x)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kernel, stride", [(3, 1), (2, 1), ((3, 2), (1, 2)), ((2, 4), (1, 3))])
def test_max_pool2d_overlapping_windows_accumulate(device, kernel, stride):
    """stride < kernel: one pixel can win several windows; its gradients add up."""
    x = untied_array((2, 2, 8, 9), seed=7)
    ours, theirs = on(device, x), torch.from_numpy(x).requires_grad_()
    out, expected = F.max_pool2d(ours, kernel, stride), TF.max_pool2d(theirs, kernel, stride)
    np.testing.assert_array_equal(host(out), expected.detach().numpy())
    _grads(out, expected, np.ones(out.shape), device)
    np.testing.assert_array_equal(host(ours.grad), theirs.grad.numpy())
    assert host(ours.grad).max() >= 2  # the case really overlaps
    assert gradcheck(lambda t: F.max_pool2d(t, kernel, stride), on(device, x))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 1, 2, 2), (2, 2, 5, 4), (1, 2, 3, 2),
                                   (3, 1, 8, 6)])
def test_max_pool2d_2x2_stride_2_at_even_and_odd_sizes(device, shape):
    """The networks' pooling: the last row or column of an odd size is in no window."""
    x = untied_array(shape, seed=sum(shape))
    assert compare_with_torch(lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), x,
                              device=device)
    assert compare_with_torch(lambda x: F.max_pool2d(x, 2, 2), lambda x: TF.max_pool2d(x, 2, 2),
                              x.astype(np.float32), device=device)
    assert gradcheck(lambda t: F.max_pool2d(t, 2), on(device, x))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kernel", [2, 3, (2, 3)])
def test_max_pool2d_tie_sends_the_gradient_to_the_first_maximum(device, kernel):
    """Each window of a constant image is one big tie: its top-left entry wins."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = on(device, np.ones((1, 1, 2 * kh, 3 * kw)))
    out = F.max_pool2d(x, kernel)
    out.backward(backend.to_device(np.arange(1.0, 7.0).reshape(1, 1, 2, 3), device))
    expected = np.zeros((2 * kh, 3 * kw))
    expected[0::kh, 0::kw] = [[1, 2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(host(x.grad)[0, 0], expected)


@pytest.mark.parametrize("device", DEVICES)
def test_max_pool2d_tie_sends_the_gradient_to_the_first_maximum_2x2(device):
    """Two tied windows side by side, each with its maximum at every position in turn."""
    x = np.zeros((1, 1, 2, 8))
    x[0, 0, :, 2:4] = [[0, 5], [5, 5]]   # the 5 at (0, 1) is first: it wins
    x[0, 0, :, 4:6] = [[0, 0], [5, 5]]   # bottom-left wins
    x[0, 0, :, 6:8] = [[0, 0], [0, 5]]   # no tie
    x[0, 0, :, 0:2] = [[7, 7], [7, 7]]   # top-left wins
    t = on(device, x)
    F.max_pool2d(t, 2).sum().backward()
    np.testing.assert_array_equal(host(t.grad)[0, 0], [[1, 0, 0, 1, 0, 0, 0, 0],
                                                       [0, 0, 0, 0, 1, 0, 0, 1]])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 1), ((2, 3), (1, 2))])
@given(seed=seeds)
def test_max_pool2d_ties_match_torch(device, kernel, stride, seed):
    """Few distinct values, so most windows hold a tie, overlapping or not."""
    x = np.random.default_rng(seed).integers(0, 3, size=(2, 2, 7, 8)).astype(np.float64)
    ours, theirs = on(device, x), torch.from_numpy(x).requires_grad_()
    out, expected = F.max_pool2d(ours, kernel, stride), TF.max_pool2d(theirs, kernel, stride)
    np.testing.assert_array_equal(host(out), expected.detach().numpy())
    _grads(out, expected, np.random.default_rng(seed).standard_normal(out.shape), device)
    # Overlapping windows add in another order than torch's: equal up to rounding. A gradient
    # sent to the wrong tied element would be off by a whole upstream value.
    np.testing.assert_allclose(host(ours.grad), theirs.grad.numpy(), rtol=1e-12, atol=1e-15)


# ----- global pooling ------------------------------------------------------------------------

image_shapes = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6))


@pytest.mark.parametrize("device", DEVICES)
@dtypes
@given(shape=image_shapes, seed=seeds)
def test_global_max_pool2d_matches_torch(device, dtype, shape, seed):
    x = untied_array(shape, seed, dtype=dtype)
    assert compare_with_torch(F.global_max_pool2d, lambda x: torch.amax(x, dim=(2, 3)), x,
                              device=device)
    assert compare_with_torch(F.global_max_pool2d,
                              lambda x: TF.adaptive_max_pool2d(x, 1).flatten(1), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(shape=image_shapes, seed=seeds)
def test_global_max_pool2d_gradient_matches_finite_differences(device, shape, seed):
    assert gradcheck(F.global_max_pool2d, on(device, untied_array(shape, seed)))


@pytest.mark.parametrize("device", DEVICES)
@given(seed=seeds)
def test_global_max_pool2d_ties_go_to_the_first_maximum_like_adaptive_max_pool(device, seed):
    x = np.random.default_rng(seed).integers(0, 3, size=(2, 3, 4, 5)).astype(np.float64)
    ours, theirs = on(device, x), torch.from_numpy(x).requires_grad_()
    out, expected = F.global_max_pool2d(ours), TF.adaptive_max_pool2d(theirs, 1).flatten(1)
    _grads(out, expected, np.random.default_rng(seed).standard_normal(out.shape), device)
    np.testing.assert_array_equal(host(ours.grad), theirs.grad.numpy())
    assert (host(ours.grad) != 0).sum() <= out.size  # one winner per channel


@pytest.mark.parametrize("device", DEVICES)
@dtypes
@given(shape=image_shapes, seed=seeds)
def test_global_avg_pool2d_matches_torch(device, dtype, shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    assert compare_with_torch(F.global_avg_pool2d, lambda x: x.mean(dim=(2, 3)), x, device=device)
    assert gradcheck(F.global_avg_pool2d, on(device, x.astype(np.float64)))


# ----- linear --------------------------------------------------------------------------------

linear_shapes = st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 6))


@pytest.mark.parametrize("device", DEVICES)
@dtypes
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@given(shape=linear_shapes, seed=seeds)
def test_linear_matches_torch(device, dtype, bias, shape, seed):
    n, fan_in, fan_out = shape
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((n, fan_in)), rng.standard_normal((fan_out, fan_in))]
    arrays += [rng.standard_normal(fan_out)] if bias else []
    arrays = [a.astype(dtype) for a in arrays]
    assert compare_with_torch(F.linear, TF.linear, *arrays, device=device)
    assert gradcheck(F.linear, *[on(device, a.astype(np.float64)) for a in arrays])


# ----- log_softmax and cross_entropy ---------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@dtypes
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), axis_seed=st.integers(0, 2),
       seed=seeds, scale=st.sampled_from([1.0, 30.0]))
def test_log_softmax_matches_torch(device, dtype, shape, axis_seed, seed, scale):
    axis = axis_seed % len(shape)
    x = (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)
    assert compare_with_torch(lambda x: F.log_softmax(x, axis),
                              lambda x: torch.log_softmax(x, axis), x, device=device)
    assert gradcheck(lambda x: F.log_softmax(x, axis), on(device, x.astype(np.float64)))


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("device", DEVICES)
@dtypes
def test_log_softmax_is_stable_for_huge_logits(device, dtype):
    x = np.array([[1e4, -1e4, 0.0, 1e4 - 3], [-1e4, -1e4 + 1, -1e4 + 2, -1e4]], dtype=dtype)
    out = F.log_softmax(on(device, x), -1)
    assert np.isfinite(host(out)).all()
    assert compare_with_torch(lambda x: F.log_softmax(x, -1), lambda x: torch.log_softmax(x, -1),
                              x, device=device)


def _logits_and_labels(n, classes, seed, dtype, scale=1.0):
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((n, classes))).astype(dtype)
    return logits, rng.integers(0, classes, size=n).astype(np.int64)


@pytest.mark.parametrize("device", DEVICES)
@dtypes
@given(n=st.integers(1, 8), classes=st.integers(1, 12), seed=seeds)
def test_cross_entropy_matches_torch(device, dtype, n, classes, seed):
    """Labels reach minigrad as a NumPy array on 'cpu' and as a device array on 'gpu'."""
    logits, labels = _logits_and_labels(n, classes, seed, dtype, scale=3.0)
    assert compare_with_torch(F.cross_entropy, TF.cross_entropy, logits, labels, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(n=st.integers(1, 6), classes=st.integers(2, 6), seed=seeds)
def test_cross_entropy_gradient_matches_finite_differences(device, n, classes, seed):
    logits, labels = _logits_and_labels(n, classes, seed, np.float64)
    assert gradcheck(lambda x: F.cross_entropy(x, labels), on(device, logits))


@pytest.mark.parametrize("device", DEVICES)
@dtypes
@pytest.mark.parametrize("labels_as", ["numpy", "tensor", "device array"])
def test_cross_entropy_accepts_labels_in_every_form(device, dtype, labels_as):
    logits, labels = _logits_and_labels(5, 4, seed=3, dtype=dtype)
    given_labels = {"numpy": labels,
                    "tensor": Tensor(labels, dtype=np.int64, device=device),
                    "device array": backend.to_device(labels, device)}[labels_as]
    ours, theirs = on(device, logits), torch.from_numpy(logits).requires_grad_()
    loss = F.cross_entropy(ours, given_labels)
    expected = TF.cross_entropy(theirs, torch.from_numpy(labels))
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(host(loss), expected.item(), rtol=rtol)
    loss.backward()
    expected.backward()
    np.testing.assert_allclose(host(ours.grad), theirs.grad.numpy(), rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("device", DEVICES)
@dtypes
def test_cross_entropy_is_stable_for_logits_of_1e4(device, dtype):
    logits, labels = _logits_and_labels(6, 5, seed=11, dtype=dtype, scale=1e4)
    logits[0] = [1e4, -1e4, 1e4, -1e4, 0.0]
    labels[0] = 1  # log-probability −2e4: a huge but finite loss
    loss = F.cross_entropy(on(device, logits), labels)
    assert np.isfinite(host(loss)).all()
    assert compare_with_torch(F.cross_entropy, TF.cross_entropy, logits, labels, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bad", [-1, 10, 11, 1000])
def test_cross_entropy_rejects_labels_outside_the_classes(device, bad):
    logits = on(device, np.zeros((3, 10)))
    labels = np.array([0, bad, 9])
    for given_labels in (labels, backend.to_device(labels, device)):
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)") as error:
            F.cross_entropy(logits, given_labels)
        assert str(bad) in str(error.value)


@pytest.mark.parametrize("device", DEVICES)
def test_cross_entropy_rejects_the_wrong_number_of_labels(device):
    with pytest.raises(ValueError, match="expected 3 labels"):
        F.cross_entropy(on(device, np.zeros((3, 10))), np.array([0, 1]))


# ----- binary cross-entropy on one-hot targets -----------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_one_hot_matches_torch(device):
    labels = np.array([3, 0, 2, 2, 4])
    xp = backend.module_for(device)
    ours = F.one_hot(backend.to_device(labels, device), 5, xp=xp)
    assert backend.device_of(ours) == device and ours.dtype == np.float32
    np.testing.assert_array_equal(host(ours), TF.one_hot(torch.from_numpy(labels), 5).numpy())


@pytest.mark.parametrize("device", DEVICES)
@dtypes
@given(n=st.integers(1, 6), classes=st.integers(1, 8), seed=seeds)
def test_binary_cross_entropy_with_logits_on_one_hot_targets_matches_torch(device, dtype, n,
                                                                           classes, seed):
    logits, labels = _logits_and_labels(n, classes, seed, dtype, scale=4.0)
    target = F.one_hot(backend.to_device(labels, device), classes, xp=backend.module_for(device))
    ours, theirs = on(device, logits), torch.from_numpy(logits).requires_grad_()
    loss = F.binary_cross_entropy_with_logits(ours, target)
    torch_target = torch.from_numpy(host(target).astype(dtype))
    expected = TF.binary_cross_entropy_with_logits(theirs, torch_target)
    rtol, atol = (1e-12, 1e-15) if dtype == np.float64 else (1e-5, 1e-7)
    np.testing.assert_allclose(host(loss), expected.item(), rtol=rtol)
    loss.backward()
    expected.backward()
    np.testing.assert_allclose(host(ours.grad), theirs.grad.numpy(), rtol=rtol, atol=atol)
    assert gradcheck(lambda x: F.binary_cross_entropy_with_logits(x, target),
                     on(device, logits.astype(np.float64)))


@pytest.mark.filterwarnings("error::RuntimeWarning")  # "neither overflow": not even on the way
@pytest.mark.parametrize("device", DEVICES)
def test_binary_cross_entropy_with_logits_is_stable_for_huge_logits(device):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 50.0]])
    target = F.one_hot(np.array([0, 2]), 3).astype(np.float64)
    ours, theirs = on(device, logits), torch.from_numpy(logits).requires_grad_()
    loss = F.binary_cross_entropy_with_logits(ours, backend.to_device(target, device))
    expected = TF.binary_cross_entropy_with_logits(theirs, torch.from_numpy(target))
    assert np.isfinite(host(loss))
    np.testing.assert_allclose(host(loss), expected.item(), rtol=1e-12)
    loss.backward()
    expected.backward()
    np.testing.assert_allclose(host(ours.grad), theirs.grad.numpy(), rtol=1e-12, atol=1e-15)
