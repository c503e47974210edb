"""The backend: device names, array modules, transfers, clear errors when the
GPU is missing or devices are mixed, the seeded host RNG, and the CuPy
stand-in's guard against NumPy leaks."""
import contextlib
import ctypes
import importlib.abc
import importlib.util
import platform
import subprocess
import sys
import types

import numpy as np
import pytest
from helpers import DEVICES, host, on

import minigrad
from minigrad import DeviceMismatchError, GPUUnavailableError, Tensor, backend
from minigrad.autograd import Function

STAND_IN = getattr(backend.gpu_module(), "is_stand_in", False)


# ----- mixing devices --------------------------------------------------------------------

@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: b * a, lambda a, b: a @ b, lambda a, b: b - a,
], ids=["add", "mul", "matmul", "sub"])
def test_mixing_devices_raises_naming_both(op):
    cpu = on("cpu", np.ones((2, 2)))
    gpu = on("gpu", np.ones((2, 2)))
    with pytest.raises(DeviceMismatchError) as info:
        op(cpu, gpu)
    message = str(info.value)
    assert "cpu" in message and "gpu" in message
    assert isinstance(info.value, RuntimeError)


def test_device_mismatch_error_names_the_op():
    with pytest.raises(DeviceMismatchError, match="Add"):
        on("cpu", np.ones(2)) + on("gpu", np.ones(2))


def test_host_array_operand_with_a_gpu_tensor_raises_mismatch():
    gpu = on("gpu", np.ones(3))
    with pytest.raises(DeviceMismatchError, match="cpu"):
        gpu + np.ones(3)


def test_backward_seed_on_the_other_device_raises():
    y = on("gpu", np.ones(3)) * 2
    with pytest.raises(DeviceMismatchError):
        y.backward(np.ones(3, dtype=np.float32))


def test_check_same_device():
    backend.check_same_device("op", [np.ones(1), np.ones(2)])
    gpu = backend.to_device(np.ones(1), "gpu")
    backend.check_same_device("op", [gpu, gpu])
    with pytest.raises(DeviceMismatchError, match="gpu, cpu"):
        backend.check_same_device("op", [gpu, np.ones(1)])


# ----- device names and modules ----------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("cpu", "cpu"), ("CPU", "cpu"), ("gpu", "gpu"), ("cuda", "gpu"), ("cuda:0", "gpu"), ("GPU", "gpu"),
])
def test_validate_device(name, expected):
    assert backend.validate_device(name) == expected


@pytest.mark.parametrize("name", ["tpu", "", "mps", "gpux"])
def test_unknown_device_is_an_error(name):
    with pytest.raises(ValueError, match="unknown device"):
        backend.validate_device(name)
    with pytest.raises(ValueError, match="unknown device"):
        Tensor([1.0], device=name)


def test_module_for():
    assert backend.module_for("cpu") is np
    assert backend.module_for("gpu") is backend.gpu_module()
    assert backend.module_for("cuda") is backend.gpu_module()


@pytest.mark.parametrize("device", DEVICES)
def test_arrays_know_their_module_and_device(device):
    xp = backend.module_for(device)
    array = xp.ones((2, 3), dtype=np.float32)
    assert backend.is_array(array)
    assert backend.get_array_module(array) is xp
    assert backend.device_of(array) == device
    assert backend.to_device(array, device) is array
    other = "gpu" if device == "cpu" else "cpu"
    moved = backend.to_device(array, other)
    assert backend.device_of(moved) == other
    np.testing.assert_array_equal(host(moved), np.ones((2, 3)))


def test_non_arrays_are_refused():
    assert not backend.is_array([1.0])
    with pytest.raises(TypeError, match="list"):
        backend.get_array_module([1.0])


# ----- a missing or broken GPU -----------------------------------------------------------

@contextlib.contextmanager
def gpu_forgotten(monkeypatch):
    """Forget the GPU module inside, then put the stand-in (or CuPy) back."""
    previous = backend.gpu_module()
    backend.set_gpu_module(None)
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    try:
        yield
    finally:
        backend.set_gpu_module(previous)


@pytest.fixture
def no_gpu(monkeypatch):
    """The GPU module forgotten for one test; ``monkeypatch`` to fake a CuPy install."""
    with gpu_forgotten(monkeypatch):
        yield monkeypatch


class _BrokenCupyFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes `import cupy` find a package whose import raises ``error``, as a
    CuPy wheel does when the CUDA libraries are missing."""

    def __init__(self, error):
        self.error = error

    def find_spec(self, name, path, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "cupy" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise self.error


def _fake_cupy_with(get_device_count):
    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime))


def _assert_gpu_unavailable(*fragments):
    with pytest.raises(GPUUnavailableError) as info:
        backend.gpu_module()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_cupy_not_installed(no_gpu):
    no_gpu.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError(name='cupy')
    _assert_gpu_unavailable("not installed", "pip install")
    with pytest.raises(GPUUnavailableError):
        backend.module_for("gpu")
    with pytest.raises(GPUUnavailableError, match="not installed"):
        Tensor([1.0], device="gpu")
    with pytest.raises(GPUUnavailableError):
        Tensor([1.0]).to("cuda")
    assert issubclass(GPUUnavailableError, RuntimeError)
    # the CPU goes on working
    assert backend.module_for("cpu") is np
    assert (Tensor([1.0]) * 2).item() == 2.0


def test_cupy_installed_but_its_import_fails(no_gpu):
    error = ImportError("libcudart.so.12: cannot open shared object file",
                        name="cupy_backends.cuda.api.runtime")
    no_gpu.setattr(sys, "meta_path", [_BrokenCupyFinder(error)] + sys.meta_path)
    message = _assert_gpu_unavailable("installed but failed to import", "libcudart.so.12")
    assert "not installed" not in message


def test_cupy_import_raises_something_else(no_gpu):
    error = RuntimeError("CUDA driver version is insufficient for CUDA runtime version")
    no_gpu.setattr(sys, "meta_path", [_BrokenCupyFinder(error)] + sys.meta_path)
    _assert_gpu_unavailable("installed but failed to import", "CUDA driver version is insufficient")


def test_no_cuda_device(no_gpu):
    no_gpu.setitem(sys.modules, "cupy", _fake_cupy_with(lambda: 0))
    _assert_gpu_unavailable("no CUDA device")


def test_device_count_fails(no_gpu):
    def count():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    no_gpu.setitem(sys.modules, "cupy", _fake_cupy_with(count))
    _assert_gpu_unavailable("no usable CUDA device", "cudaErrorNoDevice")


def test_a_working_cupy_is_found(no_gpu):
    from minigrad.testing import fake_cupy
    no_gpu.setitem(sys.modules, "cupy", fake_cupy)
    assert backend.gpu_module() is fake_cupy
    assert Tensor([1.0], device="gpu").device == "gpu"


def test_the_gpu_module_is_back_after_forgetting_it(monkeypatch):
    before = backend.gpu_module()
    with pytest.raises(KeyError):
        with gpu_forgotten(monkeypatch):
            monkeypatch.setitem(sys.modules, "cupy", None)
            with pytest.raises(GPUUnavailableError):
                backend.gpu_module()
            raise KeyError("a failing test body")
    assert backend.gpu_module() is before
    assert (on("gpu", np.ones(2)) * 2).device == "gpu"


# ----- the seeded host RNG -----------------------------------------------------------------

@pytest.fixture
def keep_rng(monkeypatch):
    monkeypatch.setattr(backend, "_rng", backend.host_rng())


def test_manual_seed_reproduces_draws(keep_rng):
    minigrad.manual_seed(123)
    first = backend.host_rng().standard_normal(5)
    minigrad.manual_seed(123)
    second = backend.host_rng().standard_normal(5)
    np.testing.assert_array_equal(first, second)
    backend.manual_seed(124)
    third = backend.host_rng().standard_normal(5)
    assert not np.array_equal(first, third)
    assert isinstance(backend.host_rng(), np.random.Generator)


def test_rng_continues_between_calls(keep_rng):
    minigrad.manual_seed(7)
    a = backend.host_rng().uniform(size=3)
    b = backend.host_rng().uniform(size=3)
    assert not np.array_equal(a, b)
    minigrad.manual_seed(7)
    np.testing.assert_array_equal(backend.host_rng().uniform(size=6), np.concatenate([a, b]))


# ----- the stand-in catches NumPy leaks ------------------------------------------------------

class _ExpViaNumpy(Function):
    """A deliberately wrong op: calls numpy instead of the array module."""

    def forward(self, x):
        self.y = np.exp(x)
        return self.y

    def backward(self, grad_out):
        return (grad_out * self.y,)


class _ConvertsToHost(Function):
    """A deliberately wrong op: converts its input with np.asarray (CuPy refuses too)."""

    def forward(self, x):
        return np.asarray(x) * 2

    def backward(self, grad_out):
        return (grad_out * 2,)


class _LeakyBackward(Function):
    """Right forward, but backward builds its gradient with numpy."""

    def forward(self, x):
        return x * 3

    def backward(self, grad_out):
        return (np.full(grad_out.shape, 3.0) * grad_out,)


def test_leaky_ops_work_on_the_cpu():
    # The leaks are invisible on the CPU; that is why the stand-in exists.
    x = on("cpu", np.array([0.0, 1.0]))
    np.testing.assert_allclose(host(_ExpViaNumpy.apply(x)), np.exp([0.0, 1.0]), rtol=1e-6)
    np.testing.assert_allclose(host(_ConvertsToHost.apply(x)), [0.0, 2.0])
    _LeakyBackward.apply(x).sum().backward()
    np.testing.assert_allclose(host(x.grad), [3.0, 3.0])


@pytest.mark.skipif(not STAND_IN, reason="real CuPy accepts NumPy ufuncs; the stand-in is stricter")
def test_stand_in_refuses_a_numpy_function_on_device_data():
    t = on("gpu", np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="NumPy function"):
        np.exp(t.data)
    with pytest.raises(TypeError):
        _ExpViaNumpy.apply(t)


@pytest.mark.skipif(not STAND_IN, reason="real CuPy accepts NumPy ufuncs; the stand-in is stricter")
def test_stand_in_refuses_numpy_in_backward():
    y = _LeakyBackward.apply(on("gpu", np.array([0.0, 1.0])))
    with pytest.raises(TypeError):
        y.sum().backward()


def test_implicit_conversion_of_device_data_is_refused():
    t = on("gpu", np.array([0.0, 1.0]))
    with pytest.raises(TypeError):
        np.asarray(t.data)
    with pytest.raises(TypeError):
        _ConvertsToHost.apply(t)


# ----- CPU memory: what a step frees is reused by the next ------------------------------------

FAULTS_PER_STEP = """
import resource
import numpy as np
import sys
import minigrad
import minigrad.functional as F
from minigrad import memory, models, optim
if sys.argv[1] == "kept":
    assert memory.keep_freed_memory()
rng = np.random.default_rng(0)
model = models.fixed_res_cnn()
optimizer = optim.Adam(model.parameters())
x = minigrad.tensor(rng.random((16, 1, 28, 28), dtype=np.float32))
labels = rng.integers(0, 10, 16)
def step():
    loss = F.cross_entropy(model(x), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


MAPPED_BLOCK = """
import ctypes, sys
import numpy as np
import minigrad
from minigrad import memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "kept":
    assert memory.keep_freed_memory()
before = libc.mallinfo2().hblks          # blocks malloc has mapped on their own
block = np.empty(16 * 2**20, np.uint8)   # larger than anything freed so far
print(libc.mallinfo2().hblks - before)
"""


def run_probe(script, mode):
    done = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="keep_freed_memory tunes glibc's malloc only")
def test_a_repeated_step_reuses_freed_memory():
    """After warm-up, a training step of the fixed network (batch 16) faults in almost
    no fresh pages once memory.keep_freed_memory() asked glibc to keep freed memory.
    (Without it the count depends on glibc's own sliding threshold, from about 30 to 900
    faults per step with the process's layout, so only this side is a fixed bound.)"""
    assert run_probe(FAULTS_PER_STEP, "kept") < 100


@pytest.mark.skipif(not GLIBC or not hasattr(ctypes.CDLL(None), "mallinfo2"),
                    reason="glibc 2.33 or later (mallinfo2) is needed to see malloc's mapping")
def test_a_plain_import_leaves_the_allocator_as_it_was():
    """A 16 MiB array gets a mapping of its own under glibc's default settings, and comes
    from the kept heap after keep_freed_memory(): so a plain ``import minigrad`` has not
    switched it on. Fresh processes, so no earlier test's settings count."""
    assert run_probe(MAPPED_BLOCK, "plain") == 1
    assert run_probe(MAPPED_BLOCK, "kept") == 0


TRAINED_WEIGHTS = """
import hashlib, sys
import numpy as np
import minigrad, minigrad.functional as F
from minigrad import memory, models, optim
if sys.argv[1] == "kept":  # else glibc's default thresholds
    assert memory.keep_freed_memory()
minigrad.manual_seed(0)
model = models.fixed_res_cnn()
opt = optim.Adam(model.parameters(), lr=1e-3)
rng = np.random.default_rng(0)
for _ in range(4):
    x = minigrad.tensor(rng.random((32, 1, 28, 28), dtype=np.float32))
    loss = F.cross_entropy(model(x), rng.integers(0, 10, 32))
    opt.zero_grad()
    loss.backward()
    opt.step()
digest = hashlib.sha256()
for p in model.parameters():
    digest.update(p.data.tobytes())
print(digest.hexdigest())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc",
                    reason="keep_freed_memory tunes glibc's malloc only")
def test_keeping_freed_memory_changes_no_value():
    """The speed trick's bit-identity test: four training steps with the setting and
    with glibc's default thresholds restored end in byte-identical weights."""
    digests = []
    for mode in ("kept", "plain"):
        done = subprocess.run([sys.executable, "-c", TRAINED_WEIGHTS, mode],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        digests.append(done.stdout.strip())
    assert len(digests[0]) == 64 and digests[0] == digests[1]


# ----- the GPU's first contact (issue 24), without a GPU ------------------------------------

class CupyLikeArray:
    """An array whose type says it is CuPy's, NumPy inside (for the tests below)."""

    def __init__(self, values):
        self.values = np.asarray(values)

    def __mul__(self, factor):
        return CupyLikeArray(self.values * factor)

    def __matmul__(self, other):
        return CupyLikeArray(self.values @ other.values)

    def get(self):
        return self.values


CupyLikeArray.__module__ = "cupy._core.core"


def cupy_like(count=1, broken_kernels=False):
    """A module named cupy with ``count`` devices, whose kernels fail if ``broken_kernels``."""
    import types
    module = types.ModuleType("cupy")
    module.ndarray, module.float32 = CupyLikeArray, np.float32

    def make(values):
        if broken_kernels:
            raise RuntimeError("CUDA_ERROR_FILE_NOT_FOUND: libnvrtc.so.12 not found")
        return CupyLikeArray(values)
    module.arange = lambda n, dtype: make(np.arange(n, dtype=dtype))
    module.ones = lambda n, dtype: make(np.ones(n, dtype=dtype))
    module.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: count))
    return module


@pytest.fixture
def no_gpu_module_yet(monkeypatch):
    """As in a fresh process: no GPU module asked for; restores the suite's afterwards."""
    previous = backend.gpu_module()
    backend.set_gpu_module(None)
    yield monkeypatch
    backend.set_gpu_module(previous)


def test_a_gpu_that_cannot_compute_is_unavailable_with_the_install_line(no_gpu_module_yet):
    no_gpu_module_yet.setitem(sys.modules, "cupy", cupy_like(count=1, broken_kernels=True))
    with pytest.raises(GPUUnavailableError, match=r"cannot compute on its device .*libnvrtc.*"
                                                  r"pip install 'minigrad\[gpu\]'"):
        backend.gpu_module()


def test_a_cupy_array_is_recognised_before_the_gpu_was_asked_for(no_gpu_module_yet):
    no_gpu_module_yet.setitem(sys.modules, "cupy", cupy_like())
    array = CupyLikeArray([1.0, 2.0])
    assert backend.is_array(array)  # before: taken for host data, a TypeError later
    assert backend.get_array_module(array) is sys.modules["cupy"]


def test_nccl_is_imported_explicitly_and_its_absence_named(monkeypatch):
    import types

    from minigrad import distributed
    gpu = types.SimpleNamespace(__name__="cupy", cuda=types.SimpleNamespace())  # no nccl yet
    monkeypatch.setattr(backend, "gpu_module", lambda: gpu)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", None)  # `import cupy.cuda.nccl` fails
    with pytest.raises(distributed.DistributedError, match="pip install nvidia-nccl-cu12"):
        distributed._nccl()
    nccl = types.SimpleNamespace(available=True)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", nccl)
    monkeypatch.setitem(sys.modules, "cupy.cuda", types.ModuleType("cupy.cuda"))
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))
    assert distributed._nccl() is nccl
