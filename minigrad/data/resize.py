"""Resize images to one fixed size, for a fixed-input network on mnist-varres.

Uses Pillow's bilinear filter. When shrinking, Pillow widens the filter's
support by the scale factor, so every source pixel contributes (an
antialiased, area-like average, as torchvision's Resize on PIL images does),
not the four-pixel bilinear lookup that aliases when downscaling.
"""

import numpy as np

__all__ = ["resize_groups", "resize_images"]


def resize_images(images, size=28):
    """Resize uint8 images (n, H, W) to uint8 (n, size, size) with Pillow bilinear."""
    from PIL import Image

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"resize_images expects uint8 (n, H, W), got {images.dtype} {images.shape}")
    out = np.empty((len(images), size, size), dtype=np.uint8)
    for index, image in enumerate(images):
        resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
        out[index] = np.asarray(resized)
    return out


def resize_groups(groups, size=28):
    """Resize every group of a dict (H, W) -> (images, labels) into one group.

    Returns {(size, size): (images, labels)}, groups concatenated in key order.
    """
    if not groups:
        raise ValueError("resize_groups needs at least one group")
    images = [resize_images(group_images, size) for group_images, _ in groups.values()]
    labels = [group_labels for _, group_labels in groups.values()]
    return {(size, size): (np.concatenate(images), np.concatenate(labels))}
