"""Random affine and intensity augmentation of a float32 batch, in any array module.

Notation: x has shape (N, C, H, W). Pixel (row i, column j) has centred
coordinates (u, v) = (j - cx, i - cy), cx = (W - 1) / 2, cy = (H - 1) / 2.
The forward transform of an image is

    out(p) = in(q),   p = s * R(a) * q + t,   R(a) = [[cos a, -sin a], [sin a, cos a]]

so with the y axis pointing down a positive angle turns the digit clockwise
on screen and a positive t moves it right / down. It is computed by inverse
mapping: for every output pixel, q = R(-a) (p - t) / s is looked up with
bilinear interpolation; points outside the image read `fill`.

Then intensity jitter, per image: out = out * c + mean * (1 - c) + b * span,
c ~ U(1 - contrast, 1 + contrast) around the image's mean, b ~ U(-brightness,
brightness) as a fraction of the batch's value range `span` (max - min), so
the same settings work on raw [0, 1] and on normalised data.

All random numbers are drawn on the host from a numpy Generator and moved
with xp.asarray; all array work uses xp, so x may live on a GPU (cupy).
"""

import math

import numpy as np

__all__ = ["affine_warp", "augment_batch"]


def augment_batch(x, rng, xp, max_rotation=10.0, max_translation=0.1, scale=(0.9, 1.1),
                  brightness=0.1, contrast=0.1, fill=None):
    """Return a randomly transformed copy of the float32 batch x (N, C, H, W).

    max_rotation: degrees, angle ~ U(-max_rotation, max_rotation).
    max_translation: fraction of the width / height, shift ~ U(-f, f) each.
    scale: (low, high) zoom factor range. brightness, contrast: see module doc.
    fill: value for pixels from outside the image (default: x.min(), the
    background). All-zero strengths (scale (1, 1)) give back x exactly.
    """
    _check_args(x, max_rotation, max_translation, scale, brightness, contrast)
    count, _, height, width = x.shape
    if count == 0:
        return x.copy()
    angles = np.radians(rng.uniform(-max_rotation, max_rotation, count))
    zooms = rng.uniform(scale[0], scale[1], count)
    shift_x = rng.uniform(-max_translation, max_translation, count) * width
    shift_y = rng.uniform(-max_translation, max_translation, count) * height
    offsets = rng.uniform(-brightness, brightness, count)
    factors = rng.uniform(1.0 - contrast, 1.0 + contrast, count)
    fill = x.min() if fill is None else float(fill)
    warped = affine_warp(x, xp, angles, zooms, shift_x, shift_y, fill)
    span = x.max() - x.min()
    return _jitter(warped, xp, offsets, factors, span)


def affine_warp(x, xp, angles, scales, shift_x, shift_y, fill=0.0):
    """Apply one affine transform per image (see module doc) with bilinear lookup.

    angles (radians), scales, shift_x, shift_y (pixels): host arrays of
    length N. Returns a new float32 array shaped like x.
    """
    count, _, height, width = x.shape
    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
    cos = _to_device(xp, np.cos(angles) / scales).reshape(count, 1, 1)
    sin = _to_device(xp, np.sin(angles) / scales).reshape(count, 1, 1)
    move_x = _to_device(xp, shift_x).reshape(count, 1, 1)
    move_y = _to_device(xp, shift_y).reshape(count, 1, 1)
    cols = (xp.arange(width, dtype=xp.float32) - centre_x).reshape(1, 1, width) - move_x
    rows = (xp.arange(height, dtype=xp.float32) - centre_y).reshape(1, height, 1) - move_y
    source_x = cos * cols + sin * rows + centre_x
    source_y = cos * rows - sin * cols + centre_y
    return _bilinear(x, xp, source_x, source_y, fill)


def _to_device(xp, values):
    """Host numbers -> float32 array in the array module xp."""
    return xp.asarray(np.asarray(values, dtype=np.float32))


def _bilinear(x, xp, source_x, source_y, fill):
    """Sample x (N, C, H, W) at float positions (N, H, W); outside reads fill."""
    count, channels, height, width = x.shape
    left, top = xp.floor(source_x), xp.floor(source_y)
    frac_x, frac_y = source_x - left, source_y - top
    left, top = left.astype(xp.int64), top.astype(xp.int64)
    flat = x.reshape(count, channels, height * width)
    out = xp.zeros(x.shape, dtype=xp.float32)
    for step_y, weight_y in ((0, 1.0 - frac_y), (1, frac_y)):
        for step_x, weight_x in ((0, 1.0 - frac_x), (1, frac_x)):
            col, row = left + step_x, top + step_y
            inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
            index = xp.clip(row, 0, height - 1) * width + xp.clip(col, 0, width - 1)
            index = xp.broadcast_to(index.reshape(count, 1, height * width), flat.shape)
            values = xp.take_along_axis(flat, index, axis=2).reshape(x.shape)
            values = xp.where(inside[:, None], values, fill)
            out += (weight_y * weight_x)[:, None] * values
    return out


def _jitter(x, xp, offsets, factors, span):
    """Per-image contrast around the image mean, then a brightness offset."""
    count = x.shape[0]
    factor = _to_device(xp, factors).reshape(count, 1, 1, 1)
    offset = _to_device(xp, offsets).reshape(count, 1, 1, 1)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return x * factor + mean * (1.0 - factor) + offset * span


def _check_args(x, max_rotation, max_translation, scale, brightness, contrast):
    if x.ndim != 4:
        raise ValueError(f"augment_batch expects a batch (N, C, H, W), got shape {x.shape}")
    if x.dtype != np.float32:
        raise ValueError(f"augment_batch expects float32, got {x.dtype}")
    for name, value in (("max_rotation", max_rotation), ("max_translation", max_translation),
                        ("brightness", brightness), ("contrast", contrast)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    low, high = scale
    if not 0 < low <= high:
        raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {scale!r}")
