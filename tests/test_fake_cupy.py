"""The CuPy stand-in: it must refuse what CuPy refuses (and a little more), and compute like NumPy."""
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad
from minigrad import backend, distributed
from minigrad.testing import fake_cupy as fake

MIXING = "numpy.ndarray"
NUMPY_ON_DEVICE = "NumPy function"


@pytest.fixture
def x():
    return fake.asarray(np.arange(12, dtype=np.float32).reshape(3, 4))


@pytest.fixture
def host():
    return np.ones((3, 4), dtype=np.float32)


def test_stand_in_is_its_own_array_type(x):
    assert isinstance(x, fake.ndarray)
    assert not isinstance(x, np.ndarray)
    assert fake.is_stand_in is True
    assert fake.__name__ == "minigrad.testing.fake_cupy"


@pytest.mark.parametrize("convert", [np.asarray, np.array, lambda a: np.array(a, dtype=np.float64)])
def test_implicit_conversion_to_numpy_is_refused(x, convert):
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        convert(x)


@pytest.mark.parametrize("numpy_call", [
    lambda a: np.exp(a),
    lambda a: np.sum(a),
    lambda a: np.maximum(a, 0),
    lambda a: np.add.at(a, [0], 1.0),
    lambda a: np.concatenate([a, a]),
    lambda a: np.where(a > 0, a, 0),
    lambda a: np.reshape(a, -1),
], ids=["exp", "sum", "maximum", "add.at", "concatenate", "where", "reshape"])
def test_numpy_function_on_device_array_is_refused(x, numpy_call):
    with pytest.raises(TypeError, match=NUMPY_ON_DEVICE):
        numpy_call(x)


@pytest.mark.parametrize("mix", [
    lambda a, h: a + h, lambda a, h: h + a,
    lambda a, h: a * h, lambda a, h: h * a,
    lambda a, h: a - h, lambda a, h: h / a,
    lambda a, h: a @ h.T, lambda a, h: h.T @ a,
    lambda a, h: a < h, lambda a, h: h < a,
    lambda a, h: a == h, lambda a, h: h == a,
    lambda a, h: a.__iadd__(h), lambda a, h: h.__iadd__(a),
    lambda a, h: fake.matmul(a, h.T), lambda a, h: fake.maximum(h, a),
    lambda a, h: fake.concatenate([a, h]), lambda a, h: fake.where(a > 0, h, a),
    lambda a, h: fake.exp(h), lambda a, h: fake.zeros_like(h),
    lambda a, h: a.__setitem__(slice(None), h), lambda a, h: a.clip(h, None),
])
def test_mixing_with_numpy_arrays_is_refused(x, host, mix):
    with pytest.raises(TypeError, match=MIXING):
        mix(x, host)


def test_numpy_index_arrays_are_refused(x):
    with pytest.raises(TypeError, match=MIXING):
        x[np.array([0, 2])]
    with pytest.raises(TypeError, match=MIXING):
        x[fake.asarray([0, 1]), np.array([1, 2])]


@pytest.mark.parametrize("scalar", [2, 2.5, True, np.float32(2), np.float64(2.5), np.int64(3)])
def test_python_and_numpy_scalars_are_fine_operands(x, scalar):
    h = x.get()
    pairs = [(x + scalar, h + scalar), (scalar + x, scalar + h), (x * scalar, h * scalar),
             (scalar * x, scalar * h), (scalar - x, scalar - h), (x / scalar, h / scalar),
             (x ** scalar, h ** scalar), (x < scalar, h < scalar), (scalar < x, scalar < h),
             (x == scalar, h == scalar)]
    for device_result, host_result in pairs:
        assert isinstance(device_result, fake.ndarray)
        np.testing.assert_array_equal(device_result.get(), host_result)


def test_views_share_memory(x):
    for view in [x.reshape(4, 3), x[::2], x[:, 1], x.T, x.transpose(1, 0), x.transpose((1, 0)),
                 x.swapaxes(0, 1), x.ravel(), x[None, ..., None], x.astype(np.float32, copy=False)]:
        assert isinstance(view, fake.ndarray)
        assert fake.shares_memory(view, x)
    assert not fake.shares_memory(x.copy(), x)
    assert not fake.shares_memory(x.flatten(), x)


def test_in_place_operators_write_through_views(x):
    before = x.get()
    view = x[::2]
    view += 1
    expected = before.copy()
    expected[::2] += 1
    np.testing.assert_array_equal(x.get(), expected)

    same = x
    same *= 2
    assert same is x
    np.testing.assert_array_equal(x.get(), expected * 2)

    x.T[0] = 0.0
    assert (x[:, 0] == 0).all()
    x[1] = fake.asarray([9, 8, 7, 6], dtype=np.float32)
    np.testing.assert_array_equal(x[1].get(), [9, 8, 7, 6])


def test_stride_tricks_share_memory(x):
    windows = fake.lib.stride_tricks.sliding_window_view(x, (2, 2))
    assert windows.shape == (2, 3, 2, 2)
    strided = fake.lib.stride_tricks.as_strided(x, shape=(3, 2), strides=(x.strides[0], x.strides[1] * 2))
    x[0, 0] = 100.0
    assert float(windows[0, 0, 0, 0]) == 100.0
    assert float(strided[0, 0]) == 100.0


@pytest.mark.parametrize("reduce", [
    lambda xp, a: a.sum(), lambda xp, a: a.mean(), lambda xp, a: a.max(), lambda xp, a: a.min(),
    lambda xp, a: a.argmax(), lambda xp, a: a.prod(), lambda xp, a: a.any(), lambda xp, a: a.all(),
    lambda xp, a: a.std(), lambda xp, a: a.var(), lambda xp, a: xp.sum(a), lambda xp, a: xp.max(a),
    lambda xp, a: a[1, 2], lambda xp, a: xp.dot(a[0], a[1]),
])
def test_reductions_and_scalar_indexing_return_0d_device_arrays(x, reduce):
    result = reduce(fake, x)
    assert isinstance(result, fake.ndarray)
    assert result.shape == ()
    np.testing.assert_allclose(result.get(), reduce(np, x.get()), rtol=1e-6)


def test_reductions_keep_dims(x):
    assert x.max(axis=1, keepdims=True).shape == (3, 1)
    assert x.sum(axis=(0, 1), keepdims=True).shape == (1, 1)
    assert fake.mean(x, axis=0).shape == (4,)


def test_out_argument_returns_the_same_device_array(x):
    out = fake.empty_like(x)
    assert fake.exp(x, out=out) is out
    assert fake.add(x, 1, out=out) is out
    np.testing.assert_array_equal(out.get(), x.get() + 1)


def test_conversion_of_size_one_arrays(x):
    total = x.sum()
    assert float(total) == 66.0 and int(total) == 66 and bool(total)
    assert total.item() == 66.0
    assert f"{total:.1f}" == "66.0"
    with pytest.raises(TypeError):
        float(x)
    with pytest.raises(ValueError):
        bool(x)


def test_transfers_round_trip_and_copy():
    host = np.arange(6, dtype=np.float64).reshape(2, 3)
    device = fake.asarray(host)
    host[0, 0] = -1.0  # the device copy does not see later host writes
    assert float(device[0, 0]) == 0.0
    assert fake.asarray(device) is device
    assert fake.asarray(device, dtype=np.float64) is device
    assert fake.asarray(device, dtype=np.float32).dtype == np.float32
    assert fake.array(device) is not device and not fake.shares_memory(fake.array(device), device)
    back = fake.asnumpy(device)
    assert type(back) is np.ndarray and back.dtype == np.float64
    back[0, 0] = 42.0  # nor does the device see writes to the host copy
    assert float(device[0, 0]) == 0.0
    np.testing.assert_array_equal(device.get(), [[0, 1, 2], [3, 4, 5]])
    assert fake.asarray(3.0).shape == ()
    assert fake.asarray([[1, 2]], dtype=np.float32).dtype == np.float32
    stacked = fake.asarray([device[0], device[1]])  # a list of device arrays is device data too
    np.testing.assert_array_equal(stacked.get(), device.get())
    assert fake.ndarray((2, 5), np.float32).shape == (2, 5)  # CuPy's constructor: uninitialised memory


def test_get_array_module(x, host):
    assert fake.get_array_module(x) is fake
    assert fake.get_array_module(host, x) is fake
    assert fake.get_array_module(host, 1.0) is np
    assert fake.get_array_module() is np


def test_module_namespace():
    assert fake.float32 is np.float32 and fake.int64 is np.int64 and fake.bool_ is np.bool_
    assert fake.newaxis is None and fake.pi == np.pi and np.isinf(fake.inf)
    assert fake.exp is fake.exp
    with pytest.raises(AttributeError):
        fake.random
    with pytest.raises(AttributeError):
        fake.add.at
    with pytest.raises(AttributeError):
        fake.matrix
    fake.cuda.Device(0).synchronize()
    fake.cuda.get_current_stream().synchronize()
    fake.cuda.Stream.null.synchronize()
    assert fake.cuda.runtime.getDeviceCount() == 1


def test_attributes_iteration_and_repr(x):
    assert (x.shape, x.ndim, x.size, x.dtype) == ((3, 4), 2, 12, np.float32)
    assert (x.itemsize, x.nbytes, x.strides) == (4, 48, (16, 4))
    assert x.flags.c_contiguous and not x.T.flags.c_contiguous
    assert len(x) == 3
    rows = list(x)
    assert all(isinstance(row, fake.ndarray) and row.shape == (4,) for row in rows)
    assert x.tolist() == x.get().tolist()
    assert repr(x[0, :2]) == "fake_cupy.ndarray(array([0., 1.], dtype=float32))"
    with pytest.raises(TypeError):
        iter(x.sum())


def test_engine_like_computation_matches_numpy():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    weight = rng.standard_normal((4, 3 * 2 * 2)).astype(np.float32)
    labels = np.array([1, 3])

    def forward(xp, images, weight, labels):
        windows = xp.lib.stride_tricks.sliding_window_view(images, (2, 2), axis=(2, 3))  # N C OH OW KH KW
        columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(2, 16, 12)
        out = (columns @ weight.T).reshape(2, 4, 4, 4).transpose(0, 3, 1, 2)
        out = xp.where(out > 0, out, 0.1 * out)
        logits = out.reshape(2, 4, -1).mean(axis=2)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[xp.arange(2), labels].mean()
        grad = xp.exp(log_probs)
        grad[xp.arange(2), labels] -= 1
        return loss, grad, xp.matmul(columns[0], weight.T), xp.maximum(logits, 0)[logits > 0]

    expected = forward(np, images, weight, labels)
    got = forward(fake, fake.asarray(images), fake.asarray(weight), fake.asarray(labels))
    for device_value, host_value in zip(got, expected):
        assert isinstance(device_value, fake.ndarray)
        np.testing.assert_allclose(fake.asnumpy(device_value), host_value, rtol=1e-6)


# ----- strict to CuPy's API: the snapshot in minigrad/testing/cupy_api.json ----------------

def test_names_cupy_lacks_are_refused_though_numpy_has_them():
    for name in ("insert", "geomspace", "nanquantile", "errstate", "vecdot"):
        assert hasattr(np, name)
        with pytest.raises(AttributeError, match=rf"cupy\.{name}: CuPy {fake.CUPY_VERSION} lacks it"):
            getattr(fake, name)
    with pytest.raises(AttributeError, match="cupy.lib.stride_tricks.broadcast_shapes: CuPy"):
        fake.lib.stride_tricks.broadcast_shapes
    assert fake.linalg.matrix_power(fake.asarray(np.eye(2)), 2).shape == (2, 2)


@pytest.mark.parametrize("call, keyword", [
    (lambda a: fake.sum(a, where=a > 0), "where"),
    (lambda a: a.sum(initial=0.0), "initial"),
    (lambda a: a.max(initial=0.0), "initial"),
    (lambda a: fake.zeros((2,), like=a), "like"),
    (lambda a: fake.exp(a, where=a > 0), "where"),
    (lambda a: a.astype(np.float64, device="cpu"), "device"),
    (lambda a: fake.clip(a, min=0.0, max=1.0), "min"),
    (lambda a: fake.lib.stride_tricks.sliding_window_view(a, window_shape=(2, 2), writeable=False,
                                                          readonly=True), "readonly"),
], ids=["sum-where", "ndarray.sum-initial", "ndarray.max-initial", "zeros-like", "exp-where",
        "astype-device", "clip-min", "sliding_window_view-readonly"])
def test_keywords_cupy_lacks_are_refused_though_numpy_takes_them(x, call, keyword):
    with pytest.raises(TypeError, match=f"got the keyword '{keyword}', which CuPy"):
        call(x)


def test_keywords_cupy_takes_are_fine(x):
    assert fake.sum(x, axis=0, keepdims=True).shape == (1, 4)
    assert x.max(axis=1, keepdims=True).shape == (3, 1)
    assert fake.exp(x, dtype=np.float64).dtype == np.float64
    assert fake.clip(x, a_min=0.0, a_max=1.0).shape == x.shape
    assert x.clip(min=0.0, max=1.0).shape == x.shape


def test_every_ndarray_attribute_of_the_stand_in_is_one_cupy_ndarray_has():
    ours = [name for name in vars(fake.ndarray) if not (name.startswith("_") and not name.startswith("__"))]
    ours = [name for name in ours if name not in ("__slots__", "__module__", "__doc__", "__qualname__",
                                                  "__firstlineno__", "__static_attributes__")]
    assert "reshape" in ours and "__float__" in ours and "get" in ours
    missing = [name for name in ours if name not in fake.API["ndarray"]]
    assert missing == [], f"the stand-in's ndarray has what cupy.ndarray lacks: {missing}"


def test_every_cuda_name_of_the_stand_in_is_one_cupy_cuda_has():
    modules = fake.API["modules"]
    for namespace, cupy_name in ((fake.cuda, "cupy.cuda"), (fake.cuda.runtime, "cupy.cuda.runtime")):
        ours = [name for name, value in vars(namespace).items()
                if not name.startswith("_") and value is not fake.failures]  # the stand-in's switch
        assert ours
        assert [name for name in ours if name not in modules[cupy_name]] == [], cupy_name


def test_the_snapshot_knows_the_version_and_the_keywords():
    assert fake.CUPY_VERSION[0].isdigit() and fake.CUPY_VERSION in fake.__version__
    cupy = fake.API["modules"]["cupy"]
    assert cupy["sum"]["keywords"] == ["a", "axis", "dtype", "out", "keepdims"]
    assert cupy["exp"]["keywords"] == ["out", "casting", "dtype"]  # a ufunc: x is positional only
    assert fake.API["ndarray"]["item"]["keywords"] == []
    assert "nccl" not in fake.API["modules"]["cupy.cuda"]  # only after an import


def test_the_snapshot_reads_cython_signatures():
    from minigrad.testing import cupy_snapshot
    read = cupy_snapshot.keywords_from_text
    assert read("self, Py_ssize_t axis1, Py_ssize_t axis2") == ["axis1", "axis2"]
    assert read("self, *shape, order='C', copy=None") == ["order", "copy"]
    assert read("x, /, out=None, \\*, casting='same_kind', dtype=None") == ["out", "casting", "dtype"]
    assert read("self, _ndarray_base b, _ndarray_base out=None") == ["b", "out"]
    assert read("a, shape=(1, 2), **kwargs") is None
    assert read("a, axis=None") == ["a", "axis"]


def test_the_snapshot_is_written_atomically(tmp_path):
    from minigrad.testing import cupy_snapshot
    target = tmp_path / "api.json"
    target.write_text("old")
    cupy_snapshot.write_atomically(str(target), '{"new": 1}\n')
    assert target.read_text() == '{"new": 1}\n'
    assert [path.name for path in tmp_path.iterdir()] == ["api.json"]  # no temporary left


def test_the_snapshot_regenerates_from_an_installed_cupy(tmp_path):
    cupy = pytest.importorskip("cupy")
    from minigrad.testing import cupy_snapshot
    cupy_snapshot.main([str(tmp_path / "api.json")])
    fresh = json.loads((tmp_path / "api.json").read_text())
    assert fresh["cupy_version"] == cupy.__version__
    assert set(fresh["modules"]) == set(fake.API["modules"]) and "get" in fresh["ndarray"]


def test_the_snapshot_ships_in_the_package():
    from setuptools.config.setupcfg import read_configuration
    setup_cfg = Path(__file__).resolve().parents[1] / "setup.cfg"
    options = read_configuration(str(setup_cfg))["options"]
    assert "cupy_api.json" in options["package_data"]["minigrad.testing"]


# ----- CuPy's differences that matter -----------------------------------------------------

def test_nccl_appears_only_after_its_import():
    sys.modules.pop(f"{fake.__name__}.cuda.nccl", None)
    if "nccl" in vars(fake.cuda):
        delattr(fake.cuda, "nccl")
    assert not hasattr(fake.cuda, "nccl")
    nccl = importlib.import_module(f"{fake.__name__}.cuda.nccl")
    assert fake.cuda.nccl is nccl and nccl.available
    with fake.failure("no-nccl"):
        assert not nccl.available


def test_the_flags_have_no_writeable(x):
    assert not hasattr(x.flags, "writeable")


def test_item_takes_no_index_as_in_cupy(x):
    with pytest.raises(TypeError):
        x.item(0)


@pytest.mark.parametrize("name, call", [
    ("libnvrtc.so.12", lambda: fake.arange(4) * 2),
    ("libnvrtc.so.12", lambda: fake.exp(fake.zeros(3))),
    ("libcublas.so.12", lambda: fake.ones((2, 2)) @ fake.ones((2, 2))),
])
def test_missing_libraries_fail_as_in_cupy(name, call):
    failure = "no-nvrtc" if "nvrtc" in name else "no-cublas"
    call()  # works without the failure
    with fake.failure(failure):
        with pytest.raises(RuntimeError, match=f"CuPy failed to load {name}"):
            call()
    call()


def test_no_device_fails_as_in_cupy():
    with fake.failure("no-device"):
        with pytest.raises(fake.cuda.runtime.CUDARuntimeError, match="cudaErrorInsufficientDriver"):
            fake.cuda.runtime.getDeviceCount()
        assert not fake.cuda.is_available()
    assert fake.cuda.runtime.getDeviceCount() == 1
    with pytest.raises(ValueError, match="unknown failure"):
        fake.set_failure("no-gpu")


# ----- counting transfers -----------------------------------------------------------------

@pytest.mark.parametrize("read", [
    lambda a: a.get(), lambda a: fake.asnumpy(a), lambda a: a.sum().item(), lambda a: float(a.sum()),
    lambda a: int(a.sum()), lambda a: bool(a.sum()), lambda a: a.tolist(), lambda a: f"{a.sum():.2f}",
    lambda a: str(a), lambda a: repr(a),
], ids=["get", "asnumpy", "item", "float", "int", "bool", "tolist", "format", "str", "repr"])
def test_each_read_back_is_counted_once(x, read):
    with fake.count_transfers() as counts:
        read(x)
    assert (counts.reads, counts.copies) == (1, 0)


def test_copies_to_the_device_are_counted_and_device_work_is_not(x):
    with fake.count_transfers() as counts:
        y = fake.asarray(np.ones(3))
        fake.array([1.0, 2.0])
        fake.asarray(2.0)
        assert (counts.reads, counts.copies) == (0, 3)
        z = (x * 2 + 1).sum(axis=0)
        fake.asarray(z)
        fake.asarray(x, dtype=np.float64)
        fake.array(x)
        fake.asarray([x[0], x[1]])  # device data, stacked on the device
        y[y > 0] += x[0, 0] > 0
    assert (counts.reads, counts.copies) == (0, 3)


def test_counting_blocks_nest_and_end(x):
    with fake.count_transfers() as outer:
        x.get()
        with fake.count_transfers() as inner:
            x.get()
    x.get()
    assert (outer.reads, inner.reads) == (2, 1)


# ----- the engine meeting the stand-in's failures -------------------------------------------

@pytest.fixture
def cupy_is_the_stand_in(monkeypatch):
    """backend looks for CuPy afresh and finds the stand-in under the name 'cupy'."""
    previous = backend.gpu_module()
    backend.set_gpu_module(None)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    yield
    backend.set_gpu_module(previous)


@pytest.mark.parametrize("failure, library", [("no-nvrtc", "libnvrtc.so.12"),
                                               ("no-cublas", "libcublas.so.12")])
def test_missing_cuda_libraries_make_the_gpu_unavailable_with_the_install_line(
        cupy_is_the_stand_in, failure, library):
    with fake.failure(failure):
        with pytest.raises(backend.GPUUnavailableError) as caught:
            backend.gpu_module()
    message = str(caught.value)
    assert f"CuPy cannot compute on its device (RuntimeError: CuPy failed to load {library}" in message
    assert "pip install 'minigrad[gpu]'" in message


def test_no_device_makes_the_gpu_unavailable_saying_why(cupy_is_the_stand_in):
    with fake.failure("no-device"):
        with pytest.raises(backend.GPUUnavailableError,
                           match="CuPy found no usable CUDA device: cudaErrorInsufficientDriver"):
            minigrad.tensor([1.0, 2.0]).to("gpu")


def test_a_working_stand_in_is_found_as_cupy(cupy_is_the_stand_in):
    assert backend.gpu_module() is fake
    assert backend.device_of(minigrad.tensor([1.0]).to("gpu").data) == "gpu"


def test_distributed_imports_the_stand_ins_nccl_and_names_a_missing_library(monkeypatch):
    previous = backend.gpu_module()
    backend.set_gpu_module(fake)
    try:
        assert distributed._nccl() is importlib.import_module(f"{fake.__name__}.cuda.nccl")
        with fake.failure("no-nccl"):
            with pytest.raises(distributed.DistributedError, match="pip install nvidia-nccl-cu12"):
                distributed._nccl()
    finally:
        backend.set_gpu_module(previous)
