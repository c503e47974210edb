"""The PyTorch face: dtypes, comparisons, argmax, shape and conversion methods, the
top-level functions, devices, and the new autodiff ops (sigmoid, tanh, softmax, where,
abs, casts, expand, cat, stack, dropout, batch norm), each against PyTorch: values
and gradients, float64 tight and float32 within tolerance, on 'cpu' and the GPU stand-in.
"""
import numpy as np
import pytest
from helpers import DEVICES, on
from hypothesis import given
from hypothesis import strategies as st

import minigrad
import minigrad.functional as F
from minigrad.testing import compare_with_torch
from minigrad.testing.strategies import arrays, away_from_zero, shapes, untied_arrays

torch = pytest.importorskip("torch")
FLOATS = [np.float64, np.float32]


def torch_dtype_name(dtype):
    return str(dtype).replace("torch.", "")


# ------------------------------------------------------------------ dtypes ---

@pytest.mark.parametrize("data", [[1, 2, 3], 3, [[1.5, 2.5]], 2.5, [True, False], True,
                                  [1, 2.5], [[0, 1], [2, 3]]])
def test_tensor_infers_dtypes_as_torch(data):
    assert str(minigrad.tensor(data).dtype) == torch_dtype_name(torch.tensor(data).dtype)


def test_tensor_copies_the_callers_array_as_torch():
    array = np.zeros(3, np.float32)
    x = minigrad.tensor(array, requires_grad=True)
    x.data += 1  # what an optimizer step does
    assert array.tolist() == [0, 0, 0]
    assert minigrad.from_numpy(array).data is array  # from_numpy shares, as torch's


def test_an_integer_leaf_cannot_require_grad_as_in_torch():
    with pytest.raises(RuntimeError, match="only floating-point tensors can require grad"):
        minigrad.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2], requires_grad=True)


@pytest.mark.parametrize("method, dtype", [("long", "int64"), ("float", "float32"),
                                           ("double", "float64"), ("int", "int32"),
                                           ("bool", "bool")])
def test_cast_methods_give_torchs_dtypes(method, dtype):
    values = [0.0, 1.5, -2.0]
    ours = getattr(minigrad.tensor(values), method)()
    theirs = getattr(torch.tensor(values), method)()
    assert str(ours.dtype) == dtype == torch_dtype_name(theirs.dtype)
    assert ours.tolist() == theirs.tolist()
    assert minigrad.tensor(values).type(minigrad.long).tolist() == [0, 1, -2]
    assert minigrad.tensor(values).to(minigrad.float64).dtype == np.float64


@pytest.mark.parametrize("device", DEVICES)
def test_a_float_cast_is_on_the_tape(device):
    assert compare_with_torch(lambda x: (x.double() * 3).float().sum(),
                              lambda x: (x.double() * 3).float().sum(),
                              np.array([1.0, -2.0, 0.5], np.float32), device=device)


def test_counting_correct_predictions_gives_python_ints():
    pred, target = minigrad.tensor([1, 2, 3, 4]), minigrad.tensor([1, 0, 3, 0])
    count = (pred == target).sum()
    assert count.dtype == np.int64 and count.item() == 2 and type(count.item()) is int
    assert pred.eq(target).sum().item() == 2
    assert (pred == target).type(minigrad.float).sum().item() == 2.0


def test_integer_tensors_index_lists_and_tensors():
    classes = ("zero", "one", "two")
    labels = minigrad.tensor([2, 0])
    assert [classes[label] for label in labels] == ["two", "zero"]
    x = minigrad.tensor([10.0, 20.0, 30.0])
    assert x[labels].tolist() == [30.0, 10.0]
    assert x[x > 15].tolist() == [20.0, 30.0]  # a bool mask selects
    assert int(labels[0]) == 2 and float(x[1]) == 20.0 and bool(x[0] > 5)


def test_one_element_conversions_refuse_more_elements_as_torch():
    x = minigrad.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    with pytest.raises(ValueError, match="one element"):
        float(x)
    with pytest.raises(TypeError, match="integer tensors can be used as an index"):
        [0, 1][minigrad.tensor(1.0)]


def test_an_integer_tensor_meets_a_python_float_in_float32_as_torch():
    ours = minigrad.tensor([1, 2]) * 0.5
    theirs = torch.tensor([1, 2]) * 0.5
    assert str(ours.dtype) == torch_dtype_name(theirs.dtype) and ours.tolist() == theirs.tolist()


# ------------------------------------------------------------- comparisons ---

RELATIONS = ["eq", "ne", "lt", "le", "gt", "ge"]
OPERATORS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("relation", RELATIONS)
@given(a=arrays((3, 4), low=-2, high=2, dtype=np.int64),
       b=arrays((4,), low=-2, high=2, dtype=np.int64))
def test_comparisons_give_bool_tensors_as_torch(device, relation, a, b):
    x, y = on(device, a, requires_grad=False), on(device, b, requires_grad=False)
    expected = getattr(torch, relation)(torch.tensor(a.copy()), torch.tensor(b.copy())).numpy()
    results = [getattr(minigrad, relation)(x, y), getattr(x, relation)(y),
               eval(f"x {OPERATORS[relation]} y")]
    if device == "cpu":  # a host array meets only a host tensor: nothing moves implicitly
        results.append(eval(f"x {OPERATORS[relation]} b"))
    for ours in results:
        assert ours.dtype == np.bool_ and ours.device == device
        np.testing.assert_array_equal(ours.numpy(), expected)
    one = getattr(torch, relation)(torch.tensor(a.copy()), 1).numpy()
    np.testing.assert_array_equal(eval(f"x {OPERATORS[relation]} 1").numpy(), one)


def test_a_comparison_records_nothing_on_the_tape():
    x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    mask = x > 1.5
    assert not mask.requires_grad and mask.grad_fn is None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(x=untied_arrays(shapes(0, 4)), data=st.data())
def test_argmax_and_argmin_match_torch(device, name, x, data):
    dim = data.draw(st.none() | st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    keepdim = data.draw(st.booleans())
    t = on(device, x, requires_grad=False)
    ours = getattr(t, name)(dim=dim, keepdim=keepdim)
    theirs = getattr(torch.tensor(x.copy()), name)(dim=dim, keepdim=keepdim)
    assert ours.dtype == np.int64 and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(getattr(minigrad, name)(t, dim, keepdim).numpy(),
                                  theirs.numpy())


def test_argmax_takes_the_first_of_tied_maxima_as_torch():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    assert minigrad.tensor(x).argmax(1).tolist() == torch.tensor(x).argmax(1).tolist() == [1, 0]


@pytest.mark.parametrize("device", DEVICES)
@given(x=arrays((3, 4)), y=arrays((4,)), mask=arrays((3, 4), low=0, high=1))
def test_where_matches_torch(device, x, y, mask):
    condition = mask > 0.5
    assert compare_with_torch(lambda a, b: minigrad.where(on(device, condition, False), a, b),
                              lambda a, b: torch.where(torch.tensor(condition), a, b),
                              x, y, device=device)


# ------------------------------------------------------ shape and methods ---

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", [
    lambda x: x.view(4, 6), lambda x: x.view(-1), lambda x: x.view(2, -1),
    lambda x: x.unsqueeze(0), lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(2),
    lambda x: x.unsqueeze(1).squeeze(), lambda x: x.unsqueeze(1).squeeze(1),
    lambda x: x.reshape(2, 1, 12).squeeze(0), lambda x: x.reshape(1, 24, 1).squeeze((0, 2)),
    lambda x: x[:, :1].expand(2, 3, 4), lambda x: x[:1].expand(3, -1, -1),
    lambda x: x[0, 0].expand(5, 4), lambda x: x.clone() * 2,
    lambda x: x.softmax(1), lambda x: x.log_softmax(-1), lambda x: x.sigmoid() + x.tanh(),
    lambda x: x.min(), lambda x: x.min(1).values, lambda x: x.amax(0),
    lambda x: x.add(x).mul(2).sub(1).div(3).pow(2).neg(), lambda x: x.sum(0).mm(x[0].T),
    lambda x: x.var(), lambda x: x.var(1), lambda x: x.var(0, unbiased=False),
    lambda x: x.std(dim=2, keepdim=True), lambda x: (x * x + 1).sqrt(),
    lambda x: x.var(1, correction=0),
])
def test_methods_match_torch(device, case):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    assert compare_with_torch(case, case, x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", [0, 1, -1])
@given(data=st.data())
def test_cat_and_stack_match_torch(device, dtype, dim, data):
    a = data.draw(arrays((2, 3), dtype=dtype))
    b = data.draw(arrays((2, 3), dtype=dtype))
    cat_dim = dim if dim < 2 else 1
    assert compare_with_torch(lambda x, y: minigrad.cat([x, y, x], dim=cat_dim),
                              lambda x, y: torch.cat([x, y, x], dim=cat_dim), a, b,
                              device=device)
    assert compare_with_torch(lambda x, y: minigrad.stack((x, y), dim),
                              lambda x, y: torch.stack((x, y), dim), a, b, device=device)


def test_cat_refuses_shapes_that_differ_elsewhere():
    with pytest.raises(minigrad.ShapeError, match=r"differ outside dim 0"):
        minigrad.cat([minigrad.zeros(2, 3), minigrad.zeros(2, 4)])


def test_size_numel_dim_tolist_as_torch():
    x = minigrad.zeros(2, 3, 4)
    t = torch.zeros(2, 3, 4)
    assert x.size() == tuple(t.size()) and x.size(0) == t.size(0) and x.size(-1) == t.size(-1)
    assert x.numel() == t.numel() and x.dim() == t.dim()
    assert minigrad.tensor([[1, 2]]).tolist() == torch.tensor([[1, 2]]).tolist()
    assert x.view_as(minigrad.zeros(6, 4)).shape == (6, 4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "abs", "exp", "relu"])
@given(data=st.data())
def test_elementwise_functions_match_torch(device, dtype, name, data):
    x = data.draw(away_from_zero(shapes(0, 3), high=30.0 if name == "sigmoid" else 3.0,
                                 dtype=dtype))
    assert compare_with_torch(getattr(minigrad, name), getattr(torch, name), x, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOATS)
@given(x=st.data())
def test_softmax_matches_torch(device, dtype, x):
    array = x.draw(arrays(shapes(1, 3), low=-30, high=30, dtype=dtype))
    dim = x.draw(st.integers(-array.ndim, array.ndim - 1))
    assert compare_with_torch(lambda t: minigrad.softmax(t, dim),
                              lambda t: torch.softmax(t, dim), array, device=device)


# ------------------------------------------------------- top-level makers ---

def test_makers_give_torchs_shapes_and_dtypes():
    pairs = [(minigrad.zeros(2, 3), torch.zeros(2, 3)), (minigrad.ones((2,)), torch.ones((2,))),
             (minigrad.full((2, 2), 7), torch.full((2, 2), 7)),
             (minigrad.full((2,), 1.5), torch.full((2,), 1.5)),
             (minigrad.arange(5), torch.arange(5)), (minigrad.arange(0, 1, 0.25),
                                                     torch.arange(0, 1, 0.25)),
             (minigrad.zeros_like(minigrad.ones(3, dtype=minigrad.int64)),
              torch.zeros_like(torch.ones(3, dtype=torch.int64))),
             (minigrad.ones_like(minigrad.zeros(2)), torch.ones_like(torch.zeros(2))),
             (minigrad.rand(2, 3), torch.rand(2, 3)), (minigrad.randn(4), torch.randn(4)),
             (minigrad.randint(0, 10, (5,)), torch.randint(0, 10, (5,))),
             (minigrad.linspace(0, 1, 5), torch.linspace(0, 1, 5))]
    for ours, theirs in pairs:
        assert ours.shape == tuple(theirs.shape)
        assert str(ours.dtype) == torch_dtype_name(theirs.dtype)
    for ours, theirs in pairs[:7] + pairs[-1:]:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_manual_seed_repeats_every_random_maker():
    def draw():
        minigrad.manual_seed(3)
        return [minigrad.rand(3).tolist(), minigrad.randn(2).tolist(),
                minigrad.randint(0, 9, (4,)).tolist(), minigrad.randperm(5).tolist(),
                F.dropout(minigrad.ones(8)).tolist()]
    assert draw() == draw()
    generator = minigrad.Generator().manual_seed(1)
    assert minigrad.rand(3, generator=generator).tolist() != minigrad.rand(3).tolist()


# ------------------------------------------------------------------ devices ---

def test_device_names_compare_as_torchs():
    assert minigrad.device("cuda:0") == "gpu" == minigrad.device("gpu") == "cuda"
    assert minigrad.device("cpu") == "cpu" and minigrad.device("cpu") != "cuda"
    assert minigrad.device("cuda").type == "cuda" and minigrad.device("cpu").type == "cpu"
    x = minigrad.zeros(2)
    assert x.device == minigrad.device("cpu") and x.device == "cpu"
    assert x.to(minigrad.device("cpu")) is x
    assert isinstance(minigrad.cuda.is_available(), bool)
    assert minigrad.accelerator.is_available() == minigrad.cuda.is_available()


def test_the_gpu_stand_in_is_an_accelerator():
    """conftest makes 'gpu' CuPy or its stand-in, so the GPU counts as available here."""
    assert minigrad.cuda.is_available() and minigrad.accelerator.current_accelerator() == "cuda"
    x = minigrad.ones(2).to(minigrad.accelerator.current_accelerator().type)
    assert x.device == "gpu" and x.device.type == "cuda"


# ------------------------------------------------------- dropout, batch norm ---

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("p", [0.25, 0.5, 0.9])
def test_dropout_zeroes_with_probability_p_and_scales_the_rest(device, p):
    minigrad.manual_seed(0)
    x = on(device, np.ones(20000, np.float32))
    y = F.dropout(x, p, training=True)
    values = y.numpy()
    kept = values != 0
    assert abs(kept.mean() - (1 - p)) < 0.02
    np.testing.assert_array_equal(values[kept], np.float32(1 / (1 - p)))
    y.sum().backward()
    np.testing.assert_array_equal(minigrad.tensor(x.grad).numpy(), values)  # dy/dx = m/(1−p)
    assert F.dropout(x, p, training=False) is x


def test_the_dropout_layer_follows_train_and_eval():
    layer, x = minigrad.nn.Dropout(0.5), minigrad.ones(100)
    assert (layer(x).numpy() == 0).any()
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        minigrad.nn.Dropout(1.5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (4, 3, 3, 2)])
@given(seed=st.integers(0, 2**16))
def test_batch_norm_in_training_matches_torch(device, dtype, shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype) * 2 + 1
    weight = rng.standard_normal(shape[1]).astype(dtype)
    bias = rng.standard_normal(shape[1]).astype(dtype)
    assert compare_with_torch(
        lambda a, w, b: F.batch_norm(a, None, None, w, b, training=True),
        lambda a, w, b: torch.nn.functional.batch_norm(a, None, None, w, b, training=True),
        x, weight, bias, device=device)


@pytest.mark.parametrize("layer", ["BatchNorm1d", "BatchNorm2d"])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_layers_match_torch_step_by_step(layer, momentum):
    """Running statistics over three training batches, then the eval output, the
    gradients, and torch's state_dict keys including num_batches_tracked."""
    shape = (6, 4) if layer == "BatchNorm1d" else (6, 4, 3, 3)
    ours = getattr(minigrad.nn, layer)(4, momentum=momentum)
    theirs = getattr(torch.nn, layer)(4, momentum=momentum)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal(shape).astype(np.float32) * 3 + 2
        y_ours = ours(minigrad.tensor(x))
        y_theirs = theirs(torch.tensor(x))
        np.testing.assert_allclose(y_ours.numpy(), y_theirs.detach().numpy(), rtol=1e-4,
                                   atol=1e-5)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-5, err_msg=key)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    assert compare_with_torch(lambda t: ours(t) * 2, lambda t: theirs(t) * 2, x)
    fresh = getattr(minigrad.nn, layer)(4)
    fresh.load_state_dict(theirs.state_dict())
    assert int(fresh.num_batches_tracked.item()) == 3


# ------------------------------------------------------------- loss modules ---

LOSSES = [
    ("CrossEntropyLoss", {}, "labels"), ("CrossEntropyLoss", {"label_smoothing": 0.1}, "labels"),
    ("CrossEntropyLoss", {"reduction": "sum"}, "labels"), ("NLLLoss", {}, "labels"),
    ("MSELoss", {}, "values"), ("MSELoss", {"reduction": "none"}, "values"),
    ("L1Loss", {}, "values"), ("BCEWithLogitsLoss", {}, "probabilities"),
    ("BCELoss", {}, "probabilities"), ("BCELoss", {"reduction": "sum"}, "probabilities"),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, options, target", LOSSES)
@given(seed=st.integers(0, 2**16))
def test_loss_modules_match_torch(device, name, options, target, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.05, 0.95, (4, 5)) if name == "BCELoss" else rng.standard_normal((4, 5))
    if name == "L1Loss":  # off the kink at input = target
        x = x + np.sign(x) * 0.1
    targets = {"labels": rng.integers(0, 5, 4), "values": np.zeros((4, 5)),
               "probabilities": rng.uniform(0, 1, (4, 5))}
    ours, theirs = getattr(minigrad.nn, name)(**options), getattr(torch.nn, name)(**options)
    t = targets[target]
    assert compare_with_torch(lambda a: ours(a, on(device, t, False) if t.dtype.kind == "f"
                                             else t),
                              lambda a: theirs(a, torch.tensor(t)), x, device=device)


# ---------------------------------------------------------------- modules ---

def test_module_walks_match_torch():
    def build(nn):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList([nn.Linear(2, 3), nn.Sequential(nn.ReLU(),
                                                                             nn.Linear(3, 1))])
                self.heads = nn.ModuleDict({"a": nn.Identity(), "b": nn.Tanh()})
        return Net()
    ours, theirs = build(minigrad.nn), build(torch.nn)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__
                                                          for m in theirs.modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    visited = []
    ours.apply(lambda m: visited.append(type(m).__name__))
    assert visited[-1] == "Net" and len(visited) == len(list(ours.modules()))
    assert len(ours.blocks) == 2 and "a" in ours.heads and list(ours.heads) == ["a", "b"]


def test_init_fills_parameters_in_place():
    layer = minigrad.nn.Linear(3, 2)
    weight = layer.weight
    minigrad.nn.init.zeros_(layer.bias)
    minigrad.nn.init.constant_(layer.weight, 0.5)
    assert layer.weight is weight and layer.weight.tolist() == [[0.5] * 3] * 2
    assert layer.bias.tolist() == [0.0, 0.0]
    minigrad.manual_seed(0)
    minigrad.nn.init.kaiming_uniform_(layer.weight)
    bound = np.sqrt(6 / 3)
    assert np.all(np.abs(layer.weight.numpy()) <= bound) and layer.weight.dtype == np.float32
    minigrad.nn.init.xavier_uniform_(layer.weight)
    assert np.all(np.abs(layer.weight.numpy()) <= np.sqrt(6 / 5))
    minigrad.nn.init.normal_(layer.weight, std=0.01)
    assert np.abs(layer.weight.numpy()).max() < 0.1


def test_save_refuses_a_module_naming_state_dict(tmp_path):
    with pytest.raises(TypeError, match=r"pass model.state_dict\(\)"):
        minigrad.save(minigrad.nn.Linear(2, 2), tmp_path / "m.npz")
    minigrad.save(minigrad.nn.Linear(2, 2).state_dict(), tmp_path / "m.pth")
    assert set(minigrad.load(tmp_path / "m.pth", weights_only=True)) == {"weight", "bias"}


def test_requires_grad_switches_a_leaf_and_load_state_dict_takes_strict_false():
    x = minigrad.zeros(3)
    assert x.requires_grad_() is x and x.requires_grad
    with pytest.raises(RuntimeError, match="floating-point"):
        minigrad.zeros(3, dtype=minigrad.int64).requires_grad_()
    layer = minigrad.nn.Linear(2, 2)
    state = {"weight": np.ones((2, 2), np.float32), "extra": np.zeros(1)}
    with pytest.raises(ValueError, match="missing 'bias'; unexpected 'extra'"):
        layer.load_state_dict(state)
    layer.load_state_dict(state, strict=False)  # as torch: the names that fit load
    assert layer.weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert minigrad.cuda.device_count() >= int(minigrad.cuda.is_available())


# ------------------------------------------- bad inputs: one clear error each ---

def _t(values):
    return minigrad.tensor(np.asarray(values, dtype=np.float32))


BAD_INPUTS = [  # (what, call, error, words the message holds)
    ("view to a size that does not fit", lambda: _t(np.zeros((2, 3))).view(4, 2), minigrad.ShapeError,
     "cannot be viewed as (4, 2)"),
    ("view with two -1", lambda: _t(np.zeros((2, 3))).view(-1, -1), minigrad.ShapeError,
     "at most one -1"),
    ("unsqueeze past the end", lambda: _t(np.zeros((2, 3))).unsqueeze(5), IndexError,
     "with 2 dims (expected -3 to 2)"),
    ("squeeze a dim that is not there", lambda: _t(np.zeros((2, 3))).squeeze(7), IndexError,
     "squeeze: dim 7"),
    ("expand to fewer dims", lambda: _t(np.zeros((2, 3))).expand(3), minigrad.ShapeError,
     "fewer dims"),
    ("expand a dim of size 2", lambda: _t(np.zeros((2, 3))).expand(4, 3), minigrad.ShapeError,
     "does not broadcast"),
    ("cat of no tensor", lambda: minigrad.cat([]), ValueError, "non-empty list"),
    ("stack of two shapes", lambda: minigrad.stack([_t([1]), _t([1, 2])]), minigrad.ShapeError,
     "one shape"),
    ("argmax of a dim that is not there", lambda: _t(np.zeros((2, 3))).argmax(3), IndexError,
     "argmax: dim 3"),
    ("where with a float condition", lambda: minigrad.where(_t([0.5]), _t([1]), _t([2])),
     TypeError, "must be a bool tensor"),
    ("item of two elements", lambda: _t([1, 2]).item(), ValueError, "one element"),
    ("a float tensor as a list index", lambda: [1, 2][_t(1.0)], TypeError,
     "integer tensors can be used as an index"),
    ("the mean of an int64 tensor", lambda: minigrad.tensor([1, 2]).mean(), TypeError,
     "x.float().mean()"),
    ("Dropout(-0.1)", lambda: minigrad.nn.Dropout(-0.1), ValueError, "between 0 and 1"),
    ("F.dropout(p=2)", lambda: F.dropout(_t([1]), 2.0), ValueError, "p must lie in [0, 1]"),
    ("BatchNorm2d(0)", lambda: minigrad.nn.BatchNorm2d(0), ValueError, "num_features"),
    ("BatchNorm2d on a 2-D input", lambda: minigrad.nn.BatchNorm2d(3)(_t(np.zeros((4, 3)))),
     minigrad.ShapeError, "expected a 4-D input with 3 channels"),
    ("batch norm training on one value per channel",
     lambda: minigrad.nn.BatchNorm1d(3)(_t(np.zeros((1, 3)))), ValueError,
     "more than 1 value per channel"),
    ("MSELoss of two shapes", lambda: minigrad.nn.MSELoss()(_t(np.zeros((2, 3))),
                                                            _t(np.zeros((3, 2)))),
     ValueError, "target shape (3, 2) differs"),
    ("MSELoss(reduction='avg')", lambda: minigrad.nn.MSELoss(reduction="avg")(_t([1]), _t([1])),
     ValueError, "reduction must be one of"),
    ("Adadelta(rho=2)", lambda: minigrad.optim.Adadelta(minigrad.nn.Linear(2, 2).parameters(),
                                                       rho=2), ValueError, "Invalid rho value"),
    ("SGD(nesterov=True) without momentum",
     lambda: minigrad.optim.SGD(minigrad.nn.Linear(2, 2).parameters(), lr=0.1, nesterov=True),
     ValueError, "Nesterov momentum requires a momentum"),
    ("ReduceLROnPlateau(factor=2)", lambda: minigrad.optim.lr_scheduler.ReduceLROnPlateau(
        minigrad.optim.SGD(minigrad.nn.Linear(2, 2).parameters(), lr=0.1), factor=2),
     ValueError, "Factor should be < 1.0"),
    ("DataLoader(batch_size=0)", lambda: minigrad.utils.data.DataLoader([1], batch_size=0),
     ValueError, "positive integer"),
    ("device('tpu')", lambda: minigrad.device("tpu"), ValueError, "unknown device 'tpu'"),
    ("arange with step 0", lambda: minigrad.arange(0, 5, 0), ValueError, "step must be nonzero"),
    ("ragged nested lists", lambda: minigrad.tensor([[1, 2], [3]]), ValueError,
     "tensor(): expected a sequence of length 2 at dim 1, got a sequence of length 1"),
    ("a number beside a list", lambda: minigrad.tensor([[1.0], 2.0]), ValueError,
     "expected a sequence of length 1 at dim 1, got a number"),
    ("load_state_dict of a list", lambda: minigrad.nn.Linear(2, 2).load_state_dict([1, 2]),
     TypeError, "expected a state dict"),
    ("a ModuleDict of a number", lambda: minigrad.nn.ModuleDict({"a": 3}), TypeError,
     "'a' is a int, not a Module"),
    ("a ModuleList of a number", lambda: minigrad.nn.ModuleList([minigrad.nn.ReLU(), 3]),
     TypeError, "item 1 is a int, not a Module"),
    # issue 21, more: the first was accepted (an epoch of no step), the others held
    ("DataLoader(shuffle=True) of an empty dataset", lambda: minigrad.utils.data.DataLoader(
        minigrad.utils.data.TensorDataset(_t(np.zeros((0, 2)))), shuffle=True), ValueError,
     "num_samples should be a positive integer value, but got num_samples=0"),
    ("Conv2d fed the wrong channel count", lambda: minigrad.nn.Conv2d(1, 16, 3)(
        _t(np.zeros((2, 3, 28, 28)))), minigrad.ShapeError, "Conv2d(1, 16, kernel_size=(3, 3), "
     "stride=(1, 1)): conv2d: expected 1 input channels, got 3 (input shape (2, 3, 28, 28), "
     "weight shape (16, 1, 3, 3)"),
    ("Linear fed a 1-D input of the wrong size", lambda: minigrad.nn.Linear(4, 3)(_t(np.zeros(5))),
     minigrad.ShapeError, "Linear(in_features=4, out_features=3, bias=True): linear: expected 4 "
     "input features (weight (3, 4)), got input of shape (5,)"),
    ("a Linear after Flatten of the wrong size", lambda: minigrad.nn.Sequential(
        minigrad.nn.Conv2d(1, 2, 3), minigrad.nn.Flatten(), minigrad.nn.Linear(10, 3))(
        _t(np.zeros((1, 1, 5, 5)))), minigrad.ShapeError, "layer 2, Linear(in_features=10"),
    ("backward of a non-scalar without a gradient", lambda: (_t(np.ones((2, 3))).requires_grad_()
                                                           * 2).backward(),
     RuntimeError, "a tensor of shape (2, 3) needs an explicit gradient"),
    ("backward twice without retain_graph", lambda: _backward_twice(), RuntimeError,
     "already used by an earlier backward() and released"),
    ("optimizer.load_state_dict from another model", lambda: _adam_of(
        minigrad.nn.Linear(4, 5)).load_state_dict(_adam_of(minigrad.nn.Linear(3, 2)).state_dict()),
     ValueError, "state.0.exp_avg has shape (2, 3), parameter 0 has shape (5, 4)"),
    ("Adam of no parameters", lambda: minigrad.optim.Adam([]), ValueError,
     "optimizer got an empty parameter list"),
    ("TensorDataset of two lengths", lambda: minigrad.utils.data.TensorDataset(
        _t(np.zeros((4, 2))), _t(np.zeros(3))), ValueError, "size mismatch between tensors"),
    ("random_split whose lengths do not sum", lambda: minigrad.utils.data.random_split(
        list(range(4)), [1, 2]), ValueError, "Sum of input lengths does not equal"),
    ("Conv2d with kernel_size 0 (before: ZeroDivisionError)", lambda: minigrad.nn.Conv2d(
        1, 2, (3, 0)), minigrad.ShapeError, "Conv2d: kernel_size must be ≥ 1, got (3, 0)"),
    ("cross_entropy with label 10 of 10 classes", lambda: F.cross_entropy(
        _t(np.zeros((2, 10))), minigrad.tensor([1, 10])), ValueError, "labels must lie in [0, 10)"),
]


def _backward_twice():
    y = (_t([1.0, 2.0]).requires_grad_().exp()).sum()
    y.backward()
    y.backward()


def _adam_of(model):
    """An Adam that has stepped once on ``model`` (so it has state)."""
    optimizer = minigrad.optim.Adam(model.parameters())
    model(_t(np.ones((1, model.in_features)))).sum().backward()
    optimizer.step()
    return optimizer


@pytest.mark.parametrize("call, error, words", [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_inputs_to_the_pytorch_face_are_one_clear_error(call, error, words):
    with pytest.raises(error) as raised:
        call()
    assert words in str(raised.value)


@pytest.mark.parametrize("device", DEVICES)
def test_any_all_cpu_cuda_as_torch(device):
    x = np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0]])
    ours, theirs = on(device, x, False), torch.tensor(x)
    for dim in (None, 0, 1):
        for name in ("any", "all"):
            got = getattr(ours, name)() if dim is None else getattr(ours, name)(dim)
            want = getattr(theirs, name)() if dim is None else getattr(theirs, name)(dim)
            assert got.dtype == np.bool_ and got.tolist() == want.tolist()
    assert ours.cpu().device == "cpu" and ours.cuda().device == "gpu"
    model = minigrad.nn.Linear(2, 2).cuda()
    assert model.weight.device == "gpu" and model.cpu().weight.device == "cpu"


# ---------------------------------------------------------------- in place ---

IN_PLACE = {
    "+=": lambda x, y: x.__iadd__(y), "-=": lambda x, y: x.__isub__(y),
    "*=": lambda x, y: x.__imul__(y), "/=": lambda x, y: x.__itruediv__(y),
    "add_ alpha": lambda x, y: x.add_(y, alpha=-0.5), "sub_ alpha": lambda x, y: x.sub_(y, alpha=2),
    "mul_": lambda x, y: x.mul_(y), "div_": lambda x, y: x.div_(y),
}


@pytest.mark.parametrize("name", IN_PLACE)
@pytest.mark.parametrize("device", DEVICES)
def test_in_place_arithmetic_on_an_intermediate_is_on_the_tape_as_torch(device, name):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2, (2, 3)), rng.uniform(0.5, 2, (3,))
    results = []
    for lib in (minigrad, torch):
        w = lib.tensor(a, requires_grad=True) if lib is torch else on(device, a)
        v = lib.tensor(b, requires_grad=True) if lib is torch else on(device, b)
        y = w * 3
        same = IN_PLACE[name](y, v * v)
        assert same is y
        (y * y).sum().backward()
        grads = (w.grad, v.grad) if lib is torch else (w.wrap(w.grad), v.wrap(v.grad))
        results.append([np.asarray(t.tolist()) for t in (y.detach(),) + grads])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_the_hand_written_sgd_step_of_pytorchs_tutorials_updates_the_parameters():
    """``with no_grad(): p -= lr * p.grad`` must change the model's own parameter."""
    x = np.random.default_rng(1).standard_normal((4, 3))
    weights = []
    for lib in (minigrad, torch):
        lib.manual_seed(0)
        model = lib.nn.Linear(3, 2).double()
        model.load_state_dict({"weight": lib.tensor(np.full((2, 3), 0.5)),
                               "bias": lib.tensor(np.zeros(2))})
        for _ in range(2):
            model.zero_grad()
            (model(lib.tensor(x)) ** 2).sum().backward()
            with lib.no_grad():
                for p in model.parameters():
                    grad = p.grad if lib is torch else p.wrap(p.grad)
                    p -= 0.1 * grad
        weights.append(np.asarray(model.weight.tolist()))
        assert model.weight.is_leaf and model.weight.requires_grad
    np.testing.assert_allclose(weights[0], weights[1], rtol=1e-12)
    assert not np.allclose(weights[0], 0.5)


def test_a_leaf_changed_in_place_after_the_forward_refuses_backward_as_torch():
    w = minigrad.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    with minigrad.no_grad():
        w += 1
    with pytest.raises(RuntimeError, match="modified after the forward pass"):
        y.backward()


@pytest.mark.parametrize("case", ["a leaf that requires grad", "float into int", "a larger shape"])
def test_in_place_refusals_are_torchs(case):
    def attempt(lib):
        if case == "a leaf that requires grad":
            x = lib.ones(2, requires_grad=True)
            x += 1
        elif case == "float into int":
            x = lib.tensor([1, 2])
            x += 0.5
        else:
            x = lib.zeros(2)
            x += lib.ones(2, 2)
    with pytest.raises(RuntimeError):
        attempt(torch)
    with pytest.raises(RuntimeError):
        attempt(minigrad)


def test_in_place_without_gradients_keeps_the_dtype_as_torch():
    for lib in (minigrad, torch):
        x = lib.tensor([1, 2])
        x *= 3
        x += lib.tensor([True, False])
        assert x.tolist() == [4, 6] and str(x.dtype).endswith("int64")
        f = lib.tensor([1.0, 2.0])
        f /= lib.tensor([2.0, 4.0], dtype=lib.float64)
        assert f.tolist() == [0.5, 0.5] and str(f.dtype).endswith("float32")


def test_requires_grad_cannot_be_switched_off_on_a_computed_tensor_as_torch():
    for lib in (minigrad, torch):
        y = lib.ones(2, requires_grad=True) * 2
        with pytest.raises(RuntimeError, match="leaf"):
            y.requires_grad_(False)
        assert y.requires_grad and y.detach().requires_grad is False
