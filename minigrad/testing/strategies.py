"""Hypothesis strategies for gradient tests: arrays and tensors, broadcasting
pairs, valid convolution and pooling geometry, inputs kept off kinks and ties,
in any memory layout.

Arrays are drawn as (shape, seed) and filled by NumPy: examples stay fast,
hypothesis shrinks a failure to a small shape and a small seed, and prints
the failing array as the call that rebuilds it exactly (or as its value,
when that is shorter)::

    Failing test case: test_mean_all_gradient(
        x=uniform_array(
            shape=(2, 1),
            seed=0,  # or any other generated value
            layout='contiguous',  # or any other generated value
        ),
    )

Paste it after ``from minigrad.testing.strategies import uniform_array`` to
reproduce the failure. The builders are ``uniform_array``,
``away_from_zero_array``, ``untied_array`` and ``tensor_of``; each strategy
below draws the arguments of one of them. A shape argument may be a tuple or
a strategy of shapes (drawn once per example).

Every array strategy also draws a memory layout from ``layouts`` (default:
all of ``minigrad.testing.layouts.LAYOUTS``): the same values stored
contiguous, transposed, channel-major, batch-last, strided or reversed, so every op sees
non-contiguous inputs too. A failure that needs a layout prints it (``layout='reversed'``);
``layouts=("contiguous",)`` turns the draw off.
"""
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes
from hypothesis.extra.numpy import arrays as element_arrays

from minigrad.ops.conv import conv_output_size
from minigrad.ops.pool import pool_window
from minigrad.tensor import Tensor
from minigrad.testing.layouts import LAYOUTS, copy_to, in_layout

__all__ = [
    "ConvGeometry", "PoolGeometry", "arrays", "away_from_zero", "away_from_zero_array",
    "broadcastable_shapes", "conv_geometry", "pool_geometry", "seeds", "shapes", "tensor_of",
    "tensors", "uniform_array", "untied_array", "untied_arrays",
]

seeds = st.integers(0, 2**32 - 1)


# ----- the array builders: plain functions of (shape, seed), so a failure can be pasted -----

def uniform_array(shape, seed, low=-2.0, high=2.0, dtype="float64", layout="contiguous"):
    """Uniform values in [low, high) (integers in [low, high] for an integer dtype),
    stored as ``layout`` (the values do not depend on it)."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        values = rng.integers(int(low), int(high), size=shape, endpoint=True)
    else:
        values = rng.uniform(low, high, size=shape)
    return in_layout(values.astype(dtype), layout)


def away_from_zero_array(shape, seed, margin=0.1, high=2.0, dtype="float64", layout="contiguous"):
    """Values with margin ≤ |x| ≤ high and random signs, stored as ``layout``."""
    rng = np.random.default_rng(seed)
    magnitude = rng.uniform(margin, high, size=shape)
    sign = np.where(rng.random(size=shape) < 0.5, -1.0, 1.0)
    return in_layout((sign * magnitude).astype(dtype), layout)


def untied_array(shape, seed, gap=0.01, dtype="float64", layout="contiguous"):
    """Distinct values exactly ``gap`` apart (before rounding to ``dtype``), in random
    order, stored as ``layout``."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape, dtype=np.int64))
    values = (rng.permutation(size) - size / 2) * gap + rng.uniform(-1, 1)
    return in_layout(values.reshape(shape).astype(dtype), layout)


def tensor_of(array, device="cpu", requires_grad=True):
    """A tensor on ``device`` holding a copy of ``array``, stored in ``array``'s layout."""
    return Tensor(copy_to(array, device), requires_grad=requires_grad)


def _shape_strategy(shape):
    if isinstance(shape, st.SearchStrategy):
        return shape.map(tuple)
    return st.just(tuple(shape) if np.ndim(shape) else (int(shape),))


def _layout_strategy(layouts):
    layouts = tuple(layouts)
    unknown = set(layouts) - set(LAYOUTS)
    if not layouts or unknown:
        raise ValueError(f"layouts must be a non-empty selection of {LAYOUTS}, got {layouts}")
    return st.sampled_from(layouts)


def _built(builder, shape, dtype, layouts, defaults, **options):
    """``st.builds(builder, shape=..., seed=..., layout=..., ...)``, passing only the
    options that differ from the builder's defaults, so printed examples stay short.
    The layout is drawn from ``layouts``, the first one being what failures shrink to."""
    dtype = np.dtype(dtype).name
    arguments = {name: st.just(value) for name, value in options.items()
                 if value != defaults[name]}
    if dtype != "float64":
        arguments["dtype"] = st.just(dtype)
    if tuple(layouts) != ("contiguous",):
        arguments["layout"] = _layout_strategy(layouts)
    return st.builds(builder, shape=_shape_strategy(shape), seed=seeds, **arguments)


# ----- strategies -----------------------------------------------------------------------------

def shapes(min_dims=1, max_dims=4, min_side=1, max_side=5):
    """Array shapes with ``min_dims``–``max_dims`` axes of ``min_side``–``max_side`` each."""
    return array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(min_dims=0, max_dims=4, max_side=4):
    """Pairs of shapes that broadcast together: size-1 axes and missing leading axes."""
    return mutually_broadcastable_shapes(num_shapes=2, min_dims=min_dims, max_dims=max_dims,
                                         max_side=max_side).map(lambda s: s.input_shapes)


def arrays(shape, low=-2.0, high=2.0, dtype=np.float64, elements=None, layouts=LAYOUTS):
    """Arrays of ``shape`` (a shape or a strategy of shapes), uniform in [low, high),
    each stored in a layout drawn from ``layouts``.

    ``elements`` (a hypothesis strategy of numbers) instead draws every element
    on its own: slower, but hypothesis then shrinks the values themselves too.
    """
    if elements is not None:
        values = element_arrays(np.dtype(dtype), _shape_strategy(shape), elements=elements)
        return st.builds(in_layout, values, _layout_strategy(layouts))
    return _built(uniform_array, shape, dtype, layouts, dict(low=-2.0, high=2.0),
                  low=low, high=high)


def away_from_zero(shape, margin=0.1, high=2.0, dtype=np.float64, layouts=LAYOUTS):
    """Values with margin ≤ |x| ≤ high: ReLU's kink at 0 (and the poles of 1/x
    and log|x|) is never within reach of a finite-difference step."""
    return _built(away_from_zero_array, shape, dtype, layouts, dict(margin=0.1, high=2.0),
                  margin=margin, high=high)


def untied_arrays(shape, gap=0.01, dtype=np.float64, layouts=LAYOUTS):
    """Distinct values at least ``gap`` apart, in random order: no max ties,
    and no finite-difference step can change which element is largest."""
    return _built(untied_array, shape, dtype, layouts, dict(gap=0.01), gap=gap)


def tensors(shape=None, low=-2.0, high=2.0, dtype=np.float64, *, values=None, device="cpu",
            requires_grad=True, layouts=LAYOUTS):
    """Tensors on ``device`` holding ``arrays(shape, low, high, dtype, layouts=layouts)``,
    or the arrays of another array strategy given as ``values`` (``untied_arrays(...)``,
    ...); either way the tensor's data keeps the array's layout on the device."""
    if values is None:
        if shape is None:
            raise TypeError("tensors() needs a shape or a `values` array strategy")
        values = arrays(shape, low, high, dtype, layouts=layouts)
    return st.builds(tensor_of, values, device=st.just(device),
                     requires_grad=st.just(requires_grad))


# ----- convolution and pooling geometry --------------------------------------------------------

@dataclass(frozen=True)
class ConvGeometry:
    """One valid convolution: input (n, c, h, w), weight (out_channels, c / groups, *kernel),
    with PyTorch's stride, padding, dilation and groups."""

    n: int
    c: int
    h: int
    w: int
    out_channels: int
    kernel: tuple
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1

    @property
    def input_shape(self):
        return (self.n, self.c, self.h, self.w)

    @property
    def weight_shape(self):
        return (self.out_channels, self.c // self.groups) + self.kernel

    @property
    def out_size(self):
        return conv_output_size((self.h, self.w), self.kernel, self.stride, self.padding,
                                self.dilation)

    @property
    def cols_shape(self):
        """unfold's output (N, C·KH·KW, L)."""
        oh, ow = self.out_size
        return (self.n, self.c * self.kernel[0] * self.kernel[1], oh * ow)

    @property
    def window(self):
        """unfold's and fold's arguments after the input (and fold's size), in PyTorch's
        order: ``F.unfold(x, *g.window)``."""
        return self.kernel, self.dilation, self.padding, self.stride

    @property
    def conv(self):
        """conv2d's arguments after the bias: ``F.conv2d(x, w, b, *g.conv)``."""
        return self.stride, self.padding, self.dilation, self.groups


@st.composite
def _axis(draw, max_size, max_kernel, max_stride, max_padding, max_dilation):
    """(size, kernel, stride, padding, dilation) along one axis, the dilated kernel
    dilation·(kernel − 1) + 1 within size + 2·padding."""
    size = draw(st.integers(1, max_size))
    padding = draw(st.integers(0, max_padding))
    dilation = draw(st.integers(1, max_dilation))
    kernel = draw(st.integers(1, min(max_kernel, (size + 2 * padding - 1) // dilation + 1)))
    return size, kernel, draw(st.integers(1, max_stride)), padding, dilation


@st.composite
def conv_geometry(draw, max_batch=3, max_groups=3, max_group_channels=3, max_size=10,
                  max_kernel=4, max_stride=3, max_padding=2, max_dilation=3):
    """Valid conv2d geometry, each axis drawn on its own; includes sizes where the window
    does not tile the padded input. Every output size is ≥ 1. Shrinks towards one 1×1
    image, kernel 1, stride 1, no padding, no dilation, one group."""
    h, kh, sh, ph, dh = draw(_axis(max_size, max_kernel, max_stride, max_padding, max_dilation))
    w, kw, sw, pw, dw = draw(_axis(max_size, max_kernel, max_stride, max_padding, max_dilation))
    groups = draw(st.integers(1, max_groups))
    c, out_channels = (groups * draw(st.integers(1, max_group_channels)) for _ in range(2))
    return ConvGeometry(draw(st.integers(1, max_batch)), c, h, w, out_channels, (kh, kw),
                        (sh, sw), (ph, pw), (dh, dw), groups)


@dataclass(frozen=True)
class PoolGeometry:
    """One valid 2-D pooling: input (n, c, h, w) and PyTorch's kernel_size, stride,
    padding (at most half the kernel), dilation and ceil_mode, each a pair."""

    n: int
    c: int
    h: int
    w: int
    kernel_size: tuple
    stride: tuple
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    ceil_mode: bool = False

    @property
    def input_shape(self):
        return (self.n, self.c, self.h, self.w)

    @property
    def out_size(self):
        return pool_window("max_pool2d", (self.h, self.w), self.kernel_size, self.stride,
                           self.padding, self.dilation, self.ceil_mode).out_size

    @property
    def max_args(self):
        """max_pool2d's keyword arguments: ``F.max_pool2d(x, **g.max_args)``."""
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    dilation=self.dilation, ceil_mode=self.ceil_mode)

    @property
    def avg_args(self):
        """avg_pool2d's keyword arguments (it has no dilation)."""
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    ceil_mode=self.ceil_mode)


@st.composite
def _pool_axis(draw, ceil_mode, max_kernel, max_stride, max_dilation):
    """(size, kernel, stride, padding, dilation): padding ≤ kernel / 2 and at least one
    window (with ceil_mode the last may hang stride − 1 pixels over the padded input)."""
    kernel, stride = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_stride))
    padding, dilation = draw(st.integers(0, kernel // 2)), draw(st.integers(1, max_dilation))
    span = dilation * (kernel - 1) + 1
    least = max(1, span - 2 * padding - (stride - 1 if ceil_mode else 0))
    return draw(st.integers(least, least + 6)), kernel, stride, padding, dilation


def _reads_the_input(axis, ceil_mode):
    """False when some window's taps all fall into the padding (dilation can skip over the
    input): its maximum is −∞, and PyTorch sends its gradient to an arbitrary pixel."""
    size, kernel, stride, padding, dilation = axis
    rows = pool_window("max_pool2d", (size, 1), (kernel, 1), (stride, 1), (padding, 0),
                       (dilation, 1), ceil_mode).out_size[0]
    return all(any(0 <= r * stride - padding + i * dilation < size for i in range(kernel))
               for r in range(rows))


@st.composite
def pool_geometry(draw, max_batch=2, max_channels=3, max_kernel=4, max_stride=3,
                  max_dilation=3):
    """Valid max_pool2d / avg_pool2d geometry, each axis drawn on its own: windows that
    overlap or skip pixels, padding, dilation, ceil_mode; every window reads at least one
    pixel of the input. Pass ``max_dilation=1`` for avg_pool2d, which has no dilation."""
    ceil_mode = draw(st.booleans())
    rows, columns = (draw(_pool_axis(ceil_mode, max_kernel, max_stride, max_dilation).filter(
        lambda axis: _reads_the_input(axis, ceil_mode))) for _ in range(2))
    n, c = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels))
    return PoolGeometry(n, c, rows[0], columns[0], *zip(rows[1:], columns[1:]),
                        ceil_mode=ceil_mode)
