"""Losses (and linear, the classifier head) against PyTorch and finite differences.

Every argument of cross_entropy, nll_loss and binary_cross_entropy_with_logits is
drawn by hypothesis and compared with PyTorch on the same arrays: values and the
gradients of the input and, where it requires grad, of the target; float64 tightly,
float32 within float32 rounding, on 'cpu' and 'gpu', with the input and target stored
in each of the memory layouts of minigrad.testing.layouts.
"""
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import DEVICES, assert_matches_torch_forward_and_backward, host, on
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad.functional as F
from minigrad import Tensor, backend
from minigrad.autograd import ShapeError
from minigrad.ops import loss
from minigrad.testing import compare_with_torch, fake_cupy, gradcheck
from minigrad.testing.layouts import LAYOUTS, copy_to, in_layout

seeds = st.integers(0, 2**32 - 1)
dtypes = pytest.mark.parametrize("dtype", [np.float64, np.float32])
devices = pytest.mark.parametrize("device", DEVICES)
TOLERANCES = {np.float64: (1e-12, 1e-14), np.float32: (1e-5, 1e-6)}  # float32: eps 1.2e-7
layouts = st.sampled_from(LAYOUTS)


def matches_torch(fn, torch_fn, x, target, device, target_grad=False, seed=0,
                  layout="contiguous"):
    """``fn(input, target)`` against ``torch_fn`` on the same arrays: value and dtype,
    the input's gradient, and the target's when ``target_grad`` (a float target
    that requires grad). Integer targets reach minigrad as arrays on ``device``.
    Our input and target are stored as ``layout``."""
    rtol, atol = TOLERANCES[x.dtype.type]
    ours, theirs = on(device, in_layout(x, layout)), torch.tensor(x, requires_grad=True)
    if target.dtype.kind == "f":
        our_target = on(device, in_layout(target, layout), requires_grad=target_grad)
    else:
        our_target = copy_to(in_layout(target, layout), device)
    their_target = torch.tensor(target, requires_grad=target_grad)
    out, expected = fn(ours, our_target), torch_fn(theirs, their_target)
    pairs = [(ours, theirs)] + ([(our_target, their_target)] if target_grad else [])
    assert_matches_torch_forward_and_backward(out, expected, pairs, device, rtol, atol, seed)
    return True


# ----- classification problems: every argument drawn -------------------------------------

@dataclass(frozen=True)
class Problem:
    """Logits of ``shape`` with classes on axis 1 (axis 0 when 1-D), and the options."""
    shape: tuple
    weighted: bool
    ignore_index: object        # None: the default (-100), with no label equal to it
    reduction: str
    label_smoothing: float

    @property
    def classes(self):
        return self.shape[0] if len(self.shape) == 1 else self.shape[1]

    @property
    def label_shape(self):
        return () if len(self.shape) == 1 else self.shape[:1] + self.shape[2:]

    def arrays(self, seed, dtype, probabilities=False):
        """(logits, target, weight or None): labels (some set to ignore_index) or rows of
        class probabilities."""
        rng = np.random.default_rng(seed)
        logits = (3 * rng.standard_normal(self.shape)).astype(dtype)
        weight = rng.uniform(0.2, 2.0, self.classes).astype(dtype) if self.weighted else None
        if probabilities:
            target = rng.dirichlet(np.ones(self.classes), self.label_shape)  # classes last
            target = np.moveaxis(target, -1, min(1, len(self.shape) - 1))
            return logits, target.astype(dtype), weight
        labels = rng.integers(0, self.classes, self.label_shape)
        if self.ignore_index is not None:
            labels = np.where(rng.random(self.label_shape) < 0.3, self.ignore_index, labels)
        return logits, np.asarray(labels, dtype=np.int64), weight

    def options(self, with_smoothing=True):
        options = dict(reduction=self.reduction)
        if self.ignore_index is not None:
            options["ignore_index"] = self.ignore_index
        if with_smoothing:
            options["label_smoothing"] = self.label_smoothing
        return options


@st.composite
def problems(draw, ignore=True):
    """(N, C), (C,) or (N, C, d1[, d2]) logits, weights or not, ignore_index (a class,
    or -100 with labels set to it), reduction and label smoothing."""
    classes = draw(st.integers(1, 6))
    extra = draw(st.lists(st.integers(1, 3), max_size=2))
    shape = draw(st.sampled_from([(classes,), (draw(st.integers(1, 5)), classes, *extra)]))
    ignore_index = draw(st.sampled_from([None, -100, 0, 2])) if ignore else None
    return Problem(shape, draw(st.booleans()), ignore_index,
                   draw(st.sampled_from(["mean", "sum", "none"])),
                   draw(st.sampled_from([0.0, 0.1, 0.45, 1.0])))


def _weight_kwargs(weight, device, torch_side=False):
    if weight is None:
        return {}
    return {"weight": torch.from_numpy(weight) if torch_side else backend.to_device(weight, device)}


ALL_IGNORED = ("ignore:invalid value:RuntimeWarning",  # 'mean' of labels all ignored: 0/0
               "ignore:divide by zero:RuntimeWarning")


@devices
@dtypes
@pytest.mark.filterwarnings(*ALL_IGNORED)
@given(problem=problems(), seed=seeds, layout=layouts)
def test_cross_entropy_with_labels_matches_torch(device, dtype, problem, seed, layout):
    """weight, ignore_index, reduction, label_smoothing, (C,) and (N, C, d1, …) inputs."""
    x, labels, weight = problem.arrays(seed, dtype)
    options = problem.options()
    assert matches_torch(
        lambda a, t: F.cross_entropy(a, t, **_weight_kwargs(weight, device), **options),
        lambda a, t: TF.cross_entropy(a, t, **_weight_kwargs(weight, device, True), **options),
        x, labels, device, seed=seed, layout=layout)


@devices
@dtypes
@given(problem=problems(ignore=False), seed=seeds, layout=layouts)
def test_cross_entropy_with_probabilities_matches_torch_target_gradient_included(
        device, dtype, problem, seed, layout):
    x, target, weight = problem.arrays(seed, dtype, probabilities=True)
    options = problem.options()
    assert matches_torch(
        lambda a, t: F.cross_entropy(a, t, **_weight_kwargs(weight, device), **options),
        lambda a, t: TF.cross_entropy(a, t, **_weight_kwargs(weight, device, True), **options),
        x, target, device, target_grad=True, seed=seed, layout=layout)


@devices
@dtypes
@pytest.mark.filterwarnings(*ALL_IGNORED)
@given(problem=problems(), seed=seeds, layout=layouts)
def test_nll_loss_matches_torch(device, dtype, problem, seed, layout):
    x, labels, weight = problem.arrays(seed, dtype)
    log_probs = torch.log_softmax(torch.from_numpy(x), min(1, x.ndim - 1)).numpy()
    options = problem.options(with_smoothing=False)
    assert matches_torch(
        lambda a, t: loss.nll_loss(a, t, **_weight_kwargs(weight, device), **options),
        lambda a, t: TF.nll_loss(a, t, **_weight_kwargs(weight, device, True), **options),
        log_probs, labels, device, seed=seed, layout=layout)


@devices
@given(problem=problems(), seed=seeds, probabilities=st.booleans(), layout=layouts)
def test_cross_entropy_gradients_match_finite_differences(device, problem, seed, probabilities,
                                                          layout):
    """Of the logits, and of the probabilities when the target is a distribution."""
    x, target, weight = problem.arrays(seed, np.float64, probabilities)
    assume(probabilities or (target != problem.options().get("ignore_index", -100)).any())
    options = problem.options() if not probabilities else dict(problem.options(),
                                                               ignore_index=-100)
    x, target = in_layout(x, layout), in_layout(target, layout)
    inputs = [on(device, x), on(device, target) if probabilities else target]
    assert gradcheck(lambda a, t: F.cross_entropy(a, t, **_weight_kwargs(weight, device),
                                                  **options), *inputs)


# ----- empty batches, label forms, stability -----------------------------------------------

@devices
@pytest.mark.filterwarnings(*ALL_IGNORED)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("fn, torch_fn", [(F.cross_entropy, TF.cross_entropy),
                                          (loss.nll_loss, TF.nll_loss)],
                         ids=["cross_entropy", "nll_loss"])
def test_an_empty_batch_behaves_as_in_torch(device, reduction, fn, torch_fn):
    """N = 0: 'mean' of nothing is nan, 'sum' is 0, 'none' is empty."""
    x, labels = np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    out = fn(on(device, x), labels, reduction=reduction)
    expected = torch_fn(torch.from_numpy(x), torch.from_numpy(labels), reduction=reduction)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_array_equal(host(out), expected.numpy())


@devices
@pytest.mark.filterwarnings(*ALL_IGNORED)
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_labels_all_ignored_give_a_nan_mean_and_zero_gradients(device, ignore_index,
                                                                label_smoothing):
    """As PyTorch: the mean over no labels is 0/0, but nothing depends on the logits."""
    x, labels = np.random.default_rng(0).standard_normal((3, 4)), np.full(3, ignore_index)
    options = dict(ignore_index=ignore_index, label_smoothing=label_smoothing)
    assert matches_torch(lambda a, t: F.cross_entropy(a, t, **options),
                         lambda a, t: TF.cross_entropy(a, t, **options), x, labels, device)
    ours = on(device, x)
    out = F.cross_entropy(ours, labels, **options)
    out.backward()
    assert np.isnan(host(out)) and not host(ours.grad).any()


@devices
@dtypes
@pytest.mark.parametrize("labels_as", ["numpy", "tensor", "device array", "list", "uint8"])
def test_cross_entropy_accepts_labels_in_every_form(device, dtype, labels_as):
    logits, labels, _ = Problem((5, 4), False, None, "mean", 0.0).arrays(3, dtype)
    given_labels = {"numpy": labels,
                    "tensor": Tensor(labels, dtype=np.int64, device=device),
                    "device array": backend.to_device(labels, device),
                    "list": labels.tolist(),
                    "uint8": labels.astype(np.uint8)}[labels_as]
    assert matches_torch(lambda a, t: F.cross_entropy(a, given_labels), TF.cross_entropy,
                         logits, labels, device)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@devices
@dtypes
def test_cross_entropy_is_stable_for_logits_of_1e4(device, dtype):
    logits, labels, _ = Problem((6, 5), False, None, "mean", 0.0).arrays(11, dtype)
    logits = 3e3 * logits
    logits[0] = [1e4, -1e4, 1e4, -1e4, 0.0]
    labels[0] = 1  # log-probability −2e4: a huge but finite loss
    for smoothing in (0.0, 0.2):
        assert matches_torch(lambda a, t: F.cross_entropy(a, t, label_smoothing=smoothing),
                             lambda a, t: TF.cross_entropy(a, t, label_smoothing=smoothing),
                             logits, labels, device)


def test_float32_losses_create_no_float64_array():
    """Every option, forward and backward, on float32 inputs: the CuPy stand-in logs the
    dtype of every device array made, so a single float64 temporary fails the test."""
    if backend.gpu_module() is not fake_cupy:
        pytest.skip("the dtype log exists in the CuPy stand-in only")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 2)).astype(np.float32)
    probabilities = rng.dirichlet(np.ones(3), (4, 2)).transpose(0, 2, 1)
    # The options arrive as float64 device arrays: the losses must cast them, not promote.
    weight, pos_weight, element_weight = (
        backend.to_device(np.array(v), "gpu") for v in ([1.0, 2.0, 0.5], [0.5, 1.5],
                                                        [[0.5], [1.5], [2.0]]))
    calls = [
        lambda a: F.cross_entropy(a, np.array([[0, 2], [1, -100], [2, 2], [1, 0]]),
                                  weight=weight, label_smoothing=0.1),
        lambda a: F.cross_entropy(a, on("gpu", probabilities.astype(np.float32)),
                                  weight=weight, label_smoothing=0.2, reduction="sum"),
        lambda a: loss.nll_loss(a, np.array([[0, 2], [1, 1], [2, 2], [1, 0]]), weight=weight,
                                ignore_index=1, reduction="none"),
        lambda a: F.binary_cross_entropy_with_logits(
            a, on("gpu", rng.random((4, 3, 2)).astype(np.float32)), weight=element_weight,
            pos_weight=pos_weight),
    ]
    for call in calls:
        with fake_cupy.record_dtypes() as dtypes:
            inputs = on("gpu", x)
            out = call(inputs)
            out.backward(backend.to_device(np.ones(out.shape, np.float32), "gpu"))
        assert out.dtype == np.float32 and inputs.grad.dtype == np.float32
        assert dtypes and np.dtype(np.float64) not in set(dtypes)


# ----- bad targets and options -------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda x: F.cross_entropy(x, np.array([0, 4, 3])), ValueError,
     r"cross_entropy: labels must lie in \[0, 4\) or equal ignore_index \(-100\), got values "
     r"from 0 to 4"),
    (lambda x: F.cross_entropy(x, np.array([0, -1, 3])), ValueError, r"from -1 to 3"),
    (lambda x: loss.nll_loss(x, np.array([0, 7, 3]), ignore_index=3), ValueError,
     r"nll_loss: labels must lie in \[0, 4\) .* got values from 0 to 7"),
    (lambda x: F.cross_entropy(x, np.array([0.0, 1.5, 3.0])), TypeError,
     r"cross_entropy: class labels must be integers, got dtype float64; floating targets"),
    (lambda x: loss.nll_loss(x, np.array([0.0, 1.0, 3.0])), TypeError,
     r"nll_loss: class labels must be integers, got dtype float64$"),
    (lambda x: F.cross_entropy(x, np.array([True, False, True])), TypeError,
     r"cross_entropy: class labels must be integers, got dtype bool"),
    (lambda x: F.cross_entropy(x, np.array(["a", "b", "c"])), TypeError,
     r"cross_entropy: class labels must be integers, got dtype <U1"),
    (lambda x: F.cross_entropy(x, np.array([0, 1])), ShapeError,
     r"cross_entropy: expected labels of shape \(3,\) for an input of shape \(3, 4\)"),
    (lambda x: F.cross_entropy(x, np.array([0, 1, 2]), reduction="avg"), ValueError,
     r"cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    (lambda x: F.cross_entropy(x, np.array([0, 1, 2]), label_smoothing=1.5), ValueError,
     r"cross_entropy: label_smoothing must lie in \[0, 1\]"),
    (lambda x: F.cross_entropy(x, np.array([0, 1, 2]), weight=np.ones(3)), ShapeError,
     r"cross_entropy: weight must hold one weight per class, shape \(4,\), got shape \(3,\)"),
    (lambda x: F.cross_entropy(x, np.full((3, 4), 0.25), ignore_index=1), ValueError,
     r"cross_entropy: ignore_index is not supported for class-probability targets"),
    (lambda x: F.cross_entropy(x, Tensor(np.full((3, 4), 0.25), dtype=np.float32)), TypeError,
     r"cross_entropy: the target is float32 but the input is float64"),
    (lambda x: F.cross_entropy(x[0, 0], np.array(0)), ShapeError,
     r"cross_entropy: expected an input \(N, C\), \(C,\) or \(N, C, d1, ...\), got a 0-d"),
    (lambda x: F.binary_cross_entropy_with_logits(x, np.ones((3, 3))), ShapeError,
     r"binary_cross_entropy_with_logits: target shape \(3, 3\) differs from the input shape"),
    (lambda x: F.binary_cross_entropy_with_logits(x, np.ones((3, 4)), weight=np.ones(3)),
     ShapeError, r"binary_cross_entropy_with_logits: weight of shape \(3,\) does not broadcast"),
    (lambda x: F.binary_cross_entropy_with_logits(x, np.ones((3, 4)), pos_weight=np.ones(5)),
     ShapeError, r"binary_cross_entropy_with_logits: pos_weight of shape \(5,\)"),
    (lambda x: F.binary_cross_entropy_with_logits(x, np.ones((3, 4)), reduction=None),
     ValueError, r"binary_cross_entropy_with_logits: reduction must be"),
    (lambda x: F.log_softmax(x, 2), IndexError, r"log_softmax: dim 2 is out of range"),
])
def test_bad_targets_and_options_get_an_error_naming_the_function(call, error, message):
    with pytest.raises(error, match=message):
        call(on("cpu", np.zeros((3, 4))))


@devices
def test_labels_equal_to_ignore_index_are_exempt_from_the_range_check(device):
    x = on(device, np.random.default_rng(1).standard_normal((3, 4)))
    for ignore_index in (-100, 7, -1):
        labels = np.array([0, ignore_index, 3])
        out = F.cross_entropy(x, labels, ignore_index=ignore_index)
        expected = TF.cross_entropy(torch.from_numpy(host(x)), torch.from_numpy(labels),
                                    ignore_index=ignore_index)
        np.testing.assert_allclose(host(out), expected.item(), rtol=1e-12)


@devices
def test_labels_on_another_device_are_moved_but_weights_must_match(device):
    """Labels are checked on the host and may come from either device, as before; a
    weight on the wrong device is an error, as for any op input."""
    other = "cpu" if device == "gpu" else "gpu"
    x = on(device, np.zeros((2, 3)))
    F.cross_entropy(x, backend.to_device(np.array([0, 2]), other))
    with pytest.raises(backend.DeviceMismatchError, match="cross_entropy"):
        F.cross_entropy(x, np.array([0, 2]), weight=backend.to_device(np.ones(3), other))


# ----- binary cross-entropy --------------------------------------------------------------

@st.composite
def bce_problems(draw):
    """A shape, and which weight / pos_weight shapes to use (None, broadcast or full)."""
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
    weight_shape = draw(st.sampled_from([None, shape, shape[-1:], (1,) * len(shape)]))
    pos_weight_shape = draw(st.sampled_from([None, shape[-1:], (1,)]))
    return shape, weight_shape, pos_weight_shape, draw(st.sampled_from(["mean", "sum", "none"]))


@devices
@dtypes
@given(problem=bce_problems(), seed=seeds, target_grad=st.booleans(), layout=layouts)
def test_binary_cross_entropy_with_logits_matches_torch(device, dtype, problem, seed,
                                                        target_grad, layout):
    """weight, pos_weight, reduction, and the target's gradient when it requires one."""
    shape, weight_shape, pos_weight_shape, reduction = problem
    rng = np.random.default_rng(seed)
    x, target = (4 * rng.standard_normal(shape)).astype(dtype), rng.random(shape).astype(dtype)
    extras = {name: rng.uniform(0.2, 3.0, s).astype(dtype)
              for name, s in [("weight", weight_shape), ("pos_weight", pos_weight_shape)] if s}
    ours = {name: backend.to_device(a, device) for name, a in extras.items()}
    theirs = {name: torch.from_numpy(a) for name, a in extras.items()}
    assert matches_torch(
        lambda a, t: F.binary_cross_entropy_with_logits(a, t, reduction=reduction, **ours),
        lambda a, t: TF.binary_cross_entropy_with_logits(a, t, reduction=reduction, **theirs),
        x, target, device, target_grad=target_grad, seed=seed, layout=layout)
    assert gradcheck(lambda a, t: F.binary_cross_entropy_with_logits(
        a, t, reduction=reduction, **{k: v.astype(np.float64) for k, v in ours.items()}),
        *[on(device, in_layout(a.astype(np.float64), layout)) for a in (x, target)])


@devices
def test_one_hot_matches_torch(device):
    labels = np.array([3, 0, 2, 2, 4])
    xp = backend.module_for(device)
    ours = F.one_hot(backend.to_device(labels, device), 5, xp=xp)
    assert backend.device_of(ours) == device and ours.dtype == np.float32
    np.testing.assert_array_equal(host(ours), TF.one_hot(torch.from_numpy(labels), 5).numpy())


@pytest.mark.filterwarnings("error::RuntimeWarning")  # "never overflow": not even on the way
@devices
@pytest.mark.parametrize("pos_weight", [None, np.array([1.0, 3.0, 0.5])])
def test_binary_cross_entropy_with_logits_is_stable_for_huge_logits(device, pos_weight):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 50.0]])
    target = np.array([[1.0, 0.0, 0.0], [0.2, 0.0, 1.0]])
    options = {} if pos_weight is None else {"pos_weight": pos_weight}
    assert matches_torch(
        lambda a, t: F.binary_cross_entropy_with_logits(
            a, t, **{k: backend.to_device(v, device) for k, v in options.items()}),
        lambda a, t: TF.binary_cross_entropy_with_logits(
            a, t, **{k: torch.from_numpy(v) for k, v in options.items()}),
        logits, target, device, target_grad=True)


# ----- log_softmax -------------------------------------------------------------------------

@devices
@dtypes
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=3), dim_seed=st.integers(0, 5),
       seed=seeds, scale=st.sampled_from([1.0, 30.0]), layout=layouts)
def test_log_softmax_matches_torch(device, dtype, shape, dim_seed, seed, scale, layout):
    """Any dim, negative too; axes of size 0 included (the result is empty)."""
    dim = dim_seed % len(shape) - (len(shape) if dim_seed >= 3 else 0)
    x = (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)
    x = in_layout(x, layout)
    assert compare_with_torch(lambda x: F.log_softmax(x, dim),
                              lambda x: torch.log_softmax(x, dim), x, device=device)
    if x.size:
        assert gradcheck(lambda x: F.log_softmax(x, dim), on(device, x))


@devices
@dtypes
def test_log_softmax_takes_dtype_equal_to_the_inputs_and_refuses_a_cast(device, dtype):
    """``dtype=`` as PyTorch when it names the input's dtype; a cast is refused, naming
    ``log_softmax`` and both dtypes (minigrad has no differentiable cast)."""
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(dtype)
    assert compare_with_torch(lambda t: F.log_softmax(t, 1, dtype=dtype),
                              lambda t: torch.log_softmax(t, 1, dtype=t.dtype), x, device=device)
    other = np.float32 if dtype == np.float64 else np.float64
    with pytest.raises(TypeError, match=f"log_softmax: dtype=.*{np.dtype(other).name}.*"
                                        f"{np.dtype(dtype).name}"):
        F.log_softmax(on(device, x), 1, dtype=other)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@devices
@dtypes
def test_log_softmax_is_stable_for_huge_logits(device, dtype):
    x = np.array([[1e4, -1e4, 0.0, 1e4 - 3], [-1e4, -1e4 + 1, -1e4 + 2, -1e4]], dtype=dtype)
    out = F.log_softmax(on(device, x), -1)
    assert np.isfinite(host(out)).all()
    assert compare_with_torch(lambda x: F.log_softmax(x, -1), lambda x: torch.log_softmax(x, -1),
                              x, device=device)


# ----- linear --------------------------------------------------------------------------------

linear_shapes = st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 6))


@devices
@dtypes
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@given(shape=linear_shapes, seed=seeds, layout=layouts)
def test_linear_matches_torch(device, dtype, bias, shape, seed, layout):
    n, fan_in, fan_out = shape
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((n, fan_in)), rng.standard_normal((fan_out, fan_in))]
    arrays += [rng.standard_normal(fan_out)] if bias else []
    arrays = [in_layout(a.astype(dtype), layout) for a in arrays]
    assert compare_with_torch(F.linear, TF.linear, *arrays, device=device)
    assert gradcheck(F.linear, *[on(device, a) for a in arrays])
