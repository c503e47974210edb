"""A CPU stand-in for the ``cupy`` module, so the test suite can walk the GPU code path without a GPU.

Why it exists: the engine picks its array module ``xp`` at run time (``numpy`` on the CPU, ``cupy``
on the GPU). Code that slips a ``np.`` call onto a device array, or mixes a host array into a device
computation, works on a laptop and breaks only on the GPU machine. Handing the engine this module in
place of ``cupy`` makes those bugs fail on any machine, while the numbers stay NumPy's.

What it enforces (each a ``TypeError``):

* implicit conversion to NumPy (``np.asarray(x)``, ``np.array(x)``), with CuPy's own message;
* any NumPy function or ufunc applied to a device array (``np.exp(x)``, ``np.sum(x)``,
  ``np.add.at(x, ...)``) -- stricter than CuPy on purpose: engine code must go through ``xp``;
* a ``numpy.ndarray`` mixed with a device array, in an operator (either side), an index, an
  assignment, or a module function. Only the transfer functions (``asarray``, ``array``,
  ``asnumpy``, ``ndarray.get``) cross between host and device.

Python scalars and NumPy scalars (``np.float32(2)``) are fine as operands. Views share memory like
CuPy's: slicing, ``reshape``, ``transpose`` and the stride tricks wrap NumPy views of one buffer.
Reductions and scalar indexing return 0-d device arrays, as CuPy does.

Module functions are NumPy's, wrapped by a module ``__getattr__``: arguments are unwrapped,
results re-wrapped. ``random`` and ufunc methods such as ``add.at`` are deliberately missing.

Strict to CuPy's API: ``cupy_api.json`` (beside this package; ``python -m
minigrad.testing.cupy_snapshot`` rewrites it from an installed CuPy) lists CuPy's names, the
attributes of ``cupy.ndarray`` and the keywords of each function and method. A name CuPy lacks
is an ``AttributeError``, a keyword it does not take a ``TypeError``, though NumPy has both.
``cuda.nccl`` appears only after ``importlib.import_module(<this module>.cuda.nccl)``, as in CuPy.

Beside CuPy's API, three things for tests:

* ``count_transfers()``: ``with count_transfers() as counts:`` counts ``counts.reads``
  (device → host: ``get``, ``asnumpy``, ``item``, ``tolist``, ``float``/``int``/``bool``,
  printing) and ``counts.copies`` (host → device: ``asarray``/``array`` of host data);
* ``record_dtypes()``: the dtype of every device array made inside;
* ``failure(name)``: CuPy as it fails on a machine without a device (``"no-device"``:
  ``cuda.runtime.getDeviceCount()`` raises ``CUDARuntimeError``), or without CUDA's kernel
  compiler or BLAS (``"no-nvrtc"``, ``"no-cublas"``: kernels or matrix products raise
  ``RuntimeError`` as CuPy does when it cannot load the library), or with CuPy's NCCL
  bindings but no NCCL library (``"no-nccl"``: ``cuda.nccl.available`` is False).
"""
import contextlib
import json
import operator
import os
import sys
import types

import numpy as np

from minigrad.testing.fake_cupy import cuda as cuda  # cupy.cuda: Device, Stream, runtime
from minigrad.testing.fake_cupy import failures

failure, set_failure = failures.failure, failures.set_failure  # the switch, offered here too

is_stand_in = True
API_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cupy_api.json")


def _load_api():
    """The snapshot of CuPy's API (written by ``python -m minigrad.testing.cupy_snapshot``)."""
    with open(API_PATH) as f:
        return json.load(f)


API = _load_api()
CUPY_VERSION = API["cupy_version"]
__version__ = f"stand-in for CuPy {CUPY_VERSION} (numpy {np.__version__})"

_CONVERSION_MESSAGE = ("Implicit conversion to a NumPy array is not allowed. "
                       "Please use `.get()` to construct a NumPy array explicitly.")
_SCALARS = (bool, int, float, complex, np.generic)
_SUBMODULES = ("linalg", "fft", "lib")  # NumPy submodules offered, wrapped like the top level
_OPERATOR_UFUNCS = {np.add, np.subtract, np.multiply, np.divide, np.floor_divide, np.remainder,
                    np.power, np.less, np.less_equal, np.greater, np.greater_equal, np.equal,
                    np.not_equal, np.bitwise_and, np.bitwise_or, np.bitwise_xor,
                    np.left_shift, np.right_shift}


# --- what CuPy has: names, and the keywords of its callables ------------------------------
def check_name(cupy_module, name):
    """AttributeError unless CuPy's module ``cupy_module`` (e.g. 'cupy.linalg') has ``name``."""
    names = API["modules"].get(cupy_module, {})
    if name not in names:
        raise AttributeError(f"{cupy_module}.{name}: CuPy {CUPY_VERSION} lacks it "
                             "(see minigrad/testing/cupy_api.json)")
    return names[name]


def check_keywords(qualified_name, kwargs, known):
    """TypeError for a keyword of ``kwargs`` that is not in ``known`` (None: unknown, any goes)."""
    if known is None:
        return
    for keyword in kwargs:
        if keyword not in known:
            raise TypeError(f"{qualified_name}() got the keyword {keyword!r}, which CuPy "
                            f"{CUPY_VERSION} does not take (it takes: {', '.join(known) or 'none'})")


def _method_keywords(name):
    return API["ndarray"].get(name, {}).get("keywords")


# --- kernels: where a real GPU needs CUDA's libraries -------------------------------------
_NO_KERNEL = {"empty", "empty_like", "zeros", "zeros_like", "reshape", "transpose", "swapaxes",
              "ravel", "squeeze", "view", "shares_memory", "may_share_memory", "broadcast_to",
              "expand_dims", "as_strided", "sliding_window_view"}  # allocations and views


def _launch(kernel):
    """Where a real GPU would launch a kernel: fail if its library is 'missing' (see failures)."""
    if kernel in _NO_KERNEL:
        return
    if kernel in ("matmul", "dot") and failures.simulated_failure() == "no-cublas":
        raise failures.library_error("libcublas.so.12")
    if kernel not in ("matmul", "dot") and failures.simulated_failure() == "no-nvrtc":
        raise failures.library_error("libnvrtc.so.12")


# --- counting transfers -----------------------------------------------------------------------
class TransferCounts:
    """How many times data crossed between host and device: ``reads`` (device → host, each
    a wait for the device on a GPU) and ``copies`` (host → device)."""

    def __init__(self):
        self.reads = self.copies = 0

    def __repr__(self):
        return f"TransferCounts(reads={self.reads}, copies={self.copies})"


_counters = []  # the TransferCounts of the count_transfers() blocks now open


@contextlib.contextmanager
def count_transfers():
    """``with count_transfers() as counts:`` counts the transfers made inside the block."""
    counts = TransferCounts()
    _counters.append(counts)
    try:
        yield counts
    finally:
        _counters.remove(counts)


def _count_read():
    for counts in _counters:
        counts.reads += 1


def _count_copy():
    for counts in _counters:
        counts.copies += 1


def _holds_device_array(value):
    if isinstance(value, ndarray):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_device_array(item) for item in value)
    return False


def _mixing_error(host_array, where):
    return TypeError(
        f"{where}: got a numpy.ndarray (shape {host_array.shape}, dtype {host_array.dtype}) "
        "where a device array was expected; move it with xp.asarray(...) first, "
        "or bring the device array to the host with .get()")


def _unwrap(value, where, allow_numpy=False):
    """Replace device arrays by their NumPy arrays, looking inside lists, tuples and dicts."""
    if isinstance(value, ndarray):
        return value._array
    if isinstance(value, np.ndarray) and not allow_numpy:
        raise _mixing_error(value, where)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(item, where, allow_numpy) for item in value)
    if isinstance(value, dict):
        return {key: _unwrap(item, where, allow_numpy) for key, item in value.items()}
    return value


def _wrap(value):
    """Turn NumPy results into device arrays: arrays and NumPy scalars (as 0-d), also in tuples and lists."""
    if isinstance(value, (np.ndarray, np.generic)):
        return ndarray._from_numpy(np.asarray(value))
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    if isinstance(value, tuple):
        items = [_wrap(item) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)  # namedtuples too
    return value


def _call(function, args, kwargs, where, keywords=None):
    check_keywords(where, kwargs, keywords)
    _launch(getattr(function, "__name__", where))
    result = function(*_unwrap(args, where), **_unwrap(kwargs, where))
    out = kwargs.get("out")
    if isinstance(out, ndarray) and result is out._array:
        return out  # like CuPy, hand back the very `out` object
    return _wrap(result)


def _operand(other, where):
    """The NumPy value to compute with, or NotImplemented for types this stand-in does not know."""
    if isinstance(other, ndarray):
        return other._array
    if isinstance(other, np.ndarray):
        raise _mixing_error(other, where)
    if isinstance(other, _SCALARS):
        return other
    return NotImplemented


def _binary(operation, reflected=False):
    def method(self, other):
        value = _operand(other, f"operator {operation.__name__}")
        if value is NotImplemented:
            return NotImplemented
        _launch(operation.__name__)
        if reflected:
            return _wrap(operation(value, self._array))
        return _wrap(operation(self._array, value))
    return method


def _inplace(operation):
    def method(self, other):
        value = _operand(other, f"operator {operation.__name__}")
        if value is NotImplemented:
            return NotImplemented
        _launch(operation.__name__)
        operation(self._array, value)  # NumPy's in-place operator writes into the shared buffer
        return self
    return method


def _unary(operation):
    def method(self):
        _launch(operation.__name__)
        return _wrap(operation(self._array))
    return method


def _method(name):
    keywords = _method_keywords(name)

    def method(self, *args, **kwargs):
        result = _call(getattr(self._array, name), args, kwargs, f"cupy.ndarray.{name}", keywords)
        return self if isinstance(result, ndarray) and result._array is self._array else result
    method.__name__ = name
    return method


_dtype_log = None  # a list while record_dtypes() is active


class record_dtypes:
    """``with record_dtypes() as dtypes:`` lists the dtype of every device array
    made inside (results, views, transfers): a test can prove that a float32
    computation never creates a float64 array."""

    def __enter__(self):
        global _dtype_log
        _dtype_log = []
        return _dtype_log

    def __exit__(self, *exc_info):
        global _dtype_log
        _dtype_log = None
        return False


class ndarray:
    """A device array: a NumPy array that refuses to meet NumPy. Build one with ``asarray``."""

    __slots__ = ("_array",)
    __array_priority__ = 1000
    __hash__ = None

    def __init__(self, shape, dtype=float):  # CuPy's constructor allocates uninitialised memory
        self._array = np.empty(shape, dtype)

    @classmethod
    def _from_numpy(cls, array):
        self = cls.__new__(cls)
        self._array = array
        if _dtype_log is not None:
            _dtype_log.append(array.dtype)
        return self

    # --- refusing NumPy -------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(_CONVERSION_MESSAGE)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for operand in inputs + tuple(kwargs.get("out", ())):
            if isinstance(operand, np.ndarray) and operand.ndim > 0:
                raise _mixing_error(operand, f"numpy.{ufunc.__name__}")
        if (method == "__call__" and not kwargs and ufunc in _OPERATOR_UFUNCS
                and len(inputs) == 2 and inputs[1] is self):
            # `np.float32(2) * x`: NumPy's scalar operator hands over to its ufunc (comparisons
            # first turn the scalar into a 0-d array); treat it as x's reflected operator.
            return _wrap(ufunc(inputs[0], self._array))
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        raise TypeError(f"NumPy function numpy.{name} was applied to a device array; "
                        "engine code must call the array module xp, never numpy, on device arrays")

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"NumPy function numpy.{func.__name__} was applied to a device array; "
                        "engine code must call the array module xp, never numpy, on device arrays")

    # --- attributes -----------------------------------------------------------------------
    shape = property(lambda self: self._array.shape)
    dtype = property(lambda self: self._array.dtype)
    ndim = property(lambda self: self._array.ndim)
    size = property(lambda self: self._array.size)
    strides = property(lambda self: self._array.strides)
    itemsize = property(lambda self: self._array.itemsize)
    nbytes = property(lambda self: self._array.nbytes)
    T = property(lambda self: ndarray._from_numpy(self._array.T))

    @property
    def flags(self):
        flags = self._array.flags
        return types.SimpleNamespace(c_contiguous=flags.c_contiguous,
                                     f_contiguous=flags.f_contiguous, owndata=flags.owndata)

    # --- methods, forwarded to NumPy with arguments unwrapped and results wrapped ---------
    reshape, transpose, swapaxes = _method("reshape"), _method("transpose"), _method("swapaxes")
    ravel, flatten, squeeze, view = _method("ravel"), _method("flatten"), _method("squeeze"), _method("view")
    astype, copy, fill, clip = _method("astype"), _method("copy"), _method("fill"), _method("clip")
    sum, mean, prod, cumsum = _method("sum"), _method("mean"), _method("prod"), _method("cumsum")
    max, min, argmax, argmin = _method("max"), _method("min"), _method("argmax"), _method("argmin")
    any, all, std, var = _method("any"), _method("all"), _method("std"), _method("var")
    dot, take, repeat, round = _method("dot"), _method("take"), _method("repeat"), _method("round")
    sort, argsort, nonzero = _method("sort"), _method("argsort"), _method("nonzero")

    # --- reads: device → host, each counted (and a wait for the device on a GPU) -----------
    def item(self):
        """The one element as a Python scalar (CuPy's item takes no index)."""
        _count_read()
        return self._array.item()

    def tolist(self):
        _count_read()
        return self._array.tolist()

    def get(self, stream=None, order="C"):
        """Copy to the host: a new numpy.ndarray."""
        _count_read()
        return np.array(self._array, order=order, copy=True)

    # --- indexing and iteration -----------------------------------------------------------
    def __getitem__(self, key):
        return _wrap(self._array[_unwrap(key, "fake_cupy.ndarray indexing")])

    def __setitem__(self, key, value):
        value = _unwrap(value, "fake_cupy.ndarray assignment")
        self._array[_unwrap(key, "fake_cupy.ndarray indexing")] = value

    __len__ = lambda self: len(self._array)

    def __iter__(self):
        return (self[index] for index in range(len(self)))

    # --- conversions: reads too (each waits for the device on a real GPU) ------------------
    def _read(self, convert):
        _count_read()
        return convert(self._array)

    __float__ = lambda self: self._read(float)  # NumPy's rules: size 1 only
    __int__ = lambda self: self._read(int)
    __bool__ = lambda self: self._read(bool)
    __format__ = lambda self, spec: self._read(lambda a: format(a, spec))  # f"{loss:.4f}", as in CuPy
    __str__ = lambda self: self._read(str)
    __repr__ = lambda self: self._read(lambda a: f"fake_cupy.ndarray({a!r})")

    # --- operators ------------------------------------------------------------------------
    __add__, __radd__, __iadd__ = _binary(operator.add), _binary(operator.add, True), _inplace(operator.iadd)
    __sub__, __rsub__, __isub__ = _binary(operator.sub), _binary(operator.sub, True), _inplace(operator.isub)
    __mul__, __rmul__, __imul__ = _binary(operator.mul), _binary(operator.mul, True), _inplace(operator.imul)
    __truediv__, __rtruediv__ = _binary(operator.truediv), _binary(operator.truediv, True)
    __itruediv__ = _inplace(operator.itruediv)
    __floordiv__, __rfloordiv__ = _binary(operator.floordiv), _binary(operator.floordiv, True)
    __ifloordiv__ = _inplace(operator.ifloordiv)
    __mod__, __rmod__, __imod__ = _binary(operator.mod), _binary(operator.mod, True), _inplace(operator.imod)
    __pow__, __rpow__, __ipow__ = _binary(operator.pow), _binary(operator.pow, True), _inplace(operator.ipow)
    __matmul__, __rmatmul__ = _binary(operator.matmul), _binary(operator.matmul, True)
    __and__, __rand__ = _binary(operator.and_), _binary(operator.and_, True)
    __iand__ = _inplace(operator.iand)
    __or__, __ror__, __ior__ = _binary(operator.or_), _binary(operator.or_, True), _inplace(operator.ior)
    __xor__, __rxor__, __ixor__ = _binary(operator.xor), _binary(operator.xor, True), _inplace(operator.ixor)
    __lshift__, __rshift__ = _binary(operator.lshift), _binary(operator.rshift)
    __lt__, __le__, __gt__, __ge__ = (_binary(operator.lt), _binary(operator.le),
                                      _binary(operator.gt), _binary(operator.ge))
    __eq__, __ne__ = _binary(operator.eq), _binary(operator.ne)
    __neg__, __pos__ = _unary(operator.neg), _unary(operator.pos)
    __abs__, __invert__ = _unary(operator.abs), _unary(operator.invert)


# --- transfers: the only functions that accept numpy.ndarray -----------------------------
def asarray(a, dtype=None, order=None):
    """Host data (numpy array, scalar, nested list) → a new device array; a device array passes through."""
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    if not _holds_device_array(a):
        _count_copy()
    return ndarray._from_numpy(np.array(_unwrap(a, "asarray", allow_numpy=True), dtype=dtype, order=order))


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    """Like ``asarray``, but copies a device array unless ``copy=False`` lets it pass."""
    if isinstance(a, ndarray) and not copy and ndmin <= a.ndim:
        return asarray(a, dtype)
    if not _holds_device_array(a):
        _count_copy()
    data = _unwrap(a, "array", allow_numpy=True)
    return ndarray._from_numpy(np.array(data, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asnumpy(a, stream=None, order="C"):
    """Device array → new numpy.ndarray; anything else goes through ``numpy.asarray`` (as in CuPy)."""
    if isinstance(a, ndarray):
        return a.get(order=order)
    return np.asarray(a, order=order)


def get_array_module(*args):
    """This module if any argument is a device array, else numpy."""
    for arg in args:
        if isinstance(arg, ndarray):
            return sys.modules[__name__]
    return np


# --- everything else: NumPy's, wrapped, if CuPy has it -------------------------------------
def _device_function(function, qualified_name, keywords):
    def device_function(*args, **kwargs):
        return _call(function, args, kwargs, qualified_name, keywords)
    device_function.__name__ = getattr(function, "__name__", qualified_name)
    device_function.__qualname__ = qualified_name
    device_function.__doc__ = f"{qualified_name}: numpy's {device_function.__name__} on device arrays."
    return device_function


def _device_attribute(numpy_owner, name, cupy_module):
    """NumPy's attribute ``name`` as this module offers it in place of ``cupy_module.name``:
    constants and types as they are, functions wrapped; AttributeError if CuPy lacks it."""
    qualified_name = f"{cupy_module}.{name}"
    if name.startswith("_") or name == "random":
        raise AttributeError(f"{qualified_name} is not offered by the stand-in"
                             + (" (minigrad draws random numbers on the host)" if name == "random" else ""))
    entry = check_name(cupy_module, name)
    value = getattr(numpy_owner, name)  # AttributeError for names NumPy lacks
    if isinstance(value, types.ModuleType):
        if numpy_owner is np and name not in _SUBMODULES:
            raise AttributeError(f"{qualified_name} is not offered by the stand-in")
        return _Namespace(value, qualified_name)
    if isinstance(value, type):
        if issubclass(value, np.ndarray):  # np.matrix, np.memmap, ...: host array types
            raise AttributeError(f"{qualified_name} is a host array type, not offered by the stand-in")
        return value  # dtypes such as float32, and helpers such as finfo, pass through
    if callable(value):
        return _device_function(value, qualified_name, entry["keywords"])
    return value  # newaxis, inf, nan, pi, e, ...


class _Namespace:
    """A NumPy submodule (``linalg``, ``lib.stride_tricks``, ...) seen through the stand-in
    as CuPy's submodule ``cupy_module``."""

    def __init__(self, numpy_module, cupy_module):
        self._numpy_module = numpy_module
        self._cupy_module = cupy_module

    def __getattr__(self, name):
        if name.startswith("_"):  # also keeps copy/pickle probes away from half-built objects
            raise AttributeError(name)
        value = _device_attribute(self._numpy_module, name, self._cupy_module)
        setattr(self, name, value)
        return value

    def __repr__(self):
        return f"<stand-in namespace {self._cupy_module}>"


def __getattr__(name):
    value = _device_attribute(np, name, "cupy")
    globals()[name] = value  # cache, so the next lookup is an ordinary module attribute
    return value

