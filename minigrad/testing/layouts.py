"""Memory layouts: the same values, stored six ways.

An op must not care how its input sits in memory, and NumPy and CuPy hand ops
non-contiguous arrays all the time (``x.T``, ``x[:, ::2]``, ``x[::-1]``, and
conv2d's own output). The checkers and strategies therefore know six layouts
of one array of values:

    contiguous     row-major (C order), what ``np.array`` makes
    transposed     every axis reversed in memory (``a.T`` of a row-major array)
    channel-major  the first two axes swapped in memory: an (N, C, H, W) view
                   of a row-major (C, N, H, W) array
    batch-last     the first axis last in memory: an (N, C, H, W) view of a
                   row-major (C, H, W, N) array, as conv2d returns it
    strided        every other element of a buffer twice as large along every
                   axis (``buffer[::2, ::2]``); the skipped elements are NaN
                   (zero for integers), so an op that reads them shows it
    reversed       negative strides on every axis (``buffer[::-1, ::-1]``)

``in_layout(array, layout)`` stores an array's values in a layout;
``layout_of(array)`` names the layout an array's strides look like; and
``copy_to(array, device, dtype)`` copies an array to a device or dtype
without losing its layout (a plain ``astype`` or device transfer would make
it contiguous).
"""
from minigrad import backend

__all__ = ["LAYOUTS", "copy_to", "in_layout", "layout_of"]

LAYOUTS = ("contiguous", "transposed", "channel-major", "batch-last", "strided", "reversed")


def in_layout(array, layout="contiguous"):
    """A new array (same array module, dtype and values as ``array``) stored as ``layout``,
    one of LAYOUTS. A 0-d array has one layout only and comes back as a plain copy (as
    does a 1-D array asked to be channel-major)."""
    if layout not in LAYOUTS:
        raise ValueError(f"in_layout: layout must be one of {LAYOUTS}, got {layout!r}")
    xp = backend.get_array_module(array)
    one_layout_only = array.ndim == 0 or (array.ndim == 1 and layout in ("channel-major",
                                                                       "batch-last"))
    if layout == "contiguous" or one_layout_only:
        return xp.array(array, order="C")
    if layout == "transposed":
        return xp.array(array.T, order="C").T
    if layout == "channel-major":
        return xp.array(array.swapaxes(0, 1), order="C").swapaxes(0, 1)
    if layout == "batch-last":
        first_last = tuple(range(1, array.ndim)) + (0,)
        last_first = (array.ndim - 1,) + tuple(range(array.ndim - 1))
        return xp.array(array.transpose(first_last), order="C").transpose(last_first)
    if layout == "reversed":
        backwards = (slice(None, None, -1),) * array.ndim
        return xp.array(array[backwards], order="C")[backwards]
    every_other = (slice(None, None, 2),) * array.ndim
    gap = xp.nan if array.dtype.kind in "fc" else 0
    buffer = xp.full(tuple(2 * side for side in array.shape), gap, dtype=array.dtype)
    buffer[every_other] = array
    return buffer[every_other]


def layout_of(array):
    """The layout in LAYOUTS that ``array``'s strides look like: 'reversed' if any
    stride is negative, else 'contiguous', 'transposed' (column-major),
    'channel-major' (row-major once the first two axes are swapped), 'batch-last'
    (row-major once the first axis is moved last) or 'strided'."""
    if any(stride < 0 for stride in array.strides):
        return "reversed"
    if array.flags.c_contiguous:
        return "contiguous"
    if array.flags.f_contiguous:
        return "transposed"
    if array.ndim > 1 and array.swapaxes(0, 1).flags.c_contiguous:
        return "channel-major"
    if array.ndim > 1 and array.transpose(tuple(range(1, array.ndim)) + (0,)).flags.c_contiguous:
        return "batch-last"
    return "strided"


def copy_to(array, device=None, dtype=None):
    """A copy of ``array`` on ``device`` (default: where it is) as ``dtype`` (default: its
    own), stored in ``array``'s layout."""
    layout = layout_of(array)
    if dtype is not None:
        array = array.astype(dtype)
    if device is not None:
        array = backend.to_device(array, device)
    return in_layout(array, layout)
