"""Hypothesis strategies for gradient tests: arrays, broadcasting pairs, valid
convolution and pooling geometry, inputs kept off kinks and ties.

Arrays are drawn as (shape, seed) and filled by NumPy, which keeps examples
fast and still shrinks to a small shape and a small seed.
"""
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from minigrad.ops.conv import conv_output_size

__all__ = [
    "ConvGeometry", "PoolGeometry", "arrays", "away_from_zero", "broadcastable_shapes",
    "conv_geometry", "pool_geometry", "shapes", "untied_arrays",
]


def shapes(min_dims=1, max_dims=4, min_side=1, max_side=5):
    return array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(min_dims=0, max_dims=4, max_side=4):
    """Pairs of shapes that broadcast together: size-1 axes and missing leading axes."""
    return mutually_broadcastable_shapes(num_shapes=2, min_dims=min_dims, max_dims=max_dims,
                                         max_side=max_side).map(lambda s: s.input_shapes)


@st.composite
def arrays(draw, shape, low=-2.0, high=2.0, dtype=np.float64):
    """A uniform array of ``shape`` (a shape or a strategy of shapes)."""
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else shape
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(dtype)


@st.composite
def away_from_zero(draw, shape, margin=0.1, high=2.0, dtype=np.float64):
    """Values with margin ≤ |x| ≤ high: ReLU's kink at 0 is never within reach
    of a finite-difference step."""
    magnitude = draw(arrays(shape, margin, high, dtype))
    signs = draw(arrays(shape, -1.0, 1.0, dtype))
    return np.where(signs < 0, -magnitude, magnitude).astype(dtype)


@st.composite
def untied_arrays(draw, shape, gap=0.01, dtype=np.float64):
    """Distinct values at least ``gap`` apart, in random order: no max ties,
    and no finite-difference step can change which element is largest."""
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else shape
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    values = (rng.permutation(size) - size / 2) * gap + rng.uniform(-1, 1)
    return values.reshape(shape).astype(dtype)


@dataclass(frozen=True)
class ConvGeometry:
    """One valid convolution: input (n, c, h, w), weight (out_channels, c, *kernel)."""

    n: int
    c: int
    h: int
    w: int
    out_channels: int
    kernel: tuple
    stride: tuple
    padding: tuple

    @property
    def input_shape(self):
        return (self.n, self.c, self.h, self.w)

    @property
    def weight_shape(self):
        return (self.out_channels, self.c) + self.kernel

    @property
    def out_size(self):
        return conv_output_size((self.h, self.w), self.kernel, self.stride, self.padding)


@st.composite
def _axis(draw, max_size, max_kernel, max_stride, max_padding):
    """(size, kernel, stride, padding) along one axis with kernel ≤ size + 2·padding."""
    size = draw(st.integers(1, max_size))
    padding = draw(st.integers(0, max_padding))
    kernel = draw(st.integers(1, min(max_kernel, size + 2 * padding)))
    stride = draw(st.integers(1, max_stride))
    return size, kernel, stride, padding


@st.composite
def conv_geometry(draw, max_batch=3, max_channels=4, max_size=12, max_kernel=5, max_stride=3,
                  max_padding=2):
    """Valid conv2d geometry, each axis drawn on its own; includes sizes where
    (size + 2·padding − kernel) is not a multiple of the stride."""
    h, kh, sh, ph = draw(_axis(max_size, max_kernel, max_stride, max_padding))
    w, kw, sw, pw = draw(_axis(max_size, max_kernel, max_stride, max_padding))
    return ConvGeometry(n=draw(st.integers(1, max_batch)), c=draw(st.integers(1, max_channels)),
                        h=h, w=w, out_channels=draw(st.integers(1, max_channels)),
                        kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw))


@dataclass(frozen=True)
class PoolGeometry:
    """One valid max-pooling: input (n, c, h, w), window ``kernel``, step ``stride``."""

    n: int
    c: int
    h: int
    w: int
    kernel: tuple
    stride: tuple

    @property
    def input_shape(self):
        return (self.n, self.c, self.h, self.w)


@st.composite
def pool_geometry(draw, max_batch=2, max_channels=3, max_size=10, max_kernel=4, max_stride=3):
    """Valid max_pool2d geometry (window within the input, any stride)."""
    h, w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    kernel = (draw(st.integers(1, min(max_kernel, h))), draw(st.integers(1, min(max_kernel, w))))
    stride = (draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride)))
    return PoolGeometry(n=draw(st.integers(1, max_batch)), c=draw(st.integers(1, max_channels)),
                        h=h, w=w, kernel=kernel, stride=stride)
