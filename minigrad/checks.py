"""Argument checks of the ops: each turns a bad argument into one clear error naming the
op, the argument and what was expected, before any work starts. The ops call them
first and then do their math; the math is in minigrad/ops/, read that first.
"""
import math

import numpy as np

from minigrad import backend
from minigrad.autograd import ShapeError, is_tensor

__all__ = ["adaptive_size", "broadcast_constant", "check_conv_inputs", "check_loss_options",
           "check_ndim", "check_new_shape", "check_padding", "check_positive_int", "check_same_dtype",
           "checked_labels", "class_dim", "constant_on_device", "dim_index", "pair"]


def pair(value, name, op="minigrad"):
    """An int, a pair of ints or a 1-tuple (PyTorch's ``(1,)``), as a pair; ``name``
    and ``op`` go into the error."""
    if isinstance(value, bool):
        raise ShapeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    try:
        result = tuple(value)
    except TypeError:
        result = None
    if result is not None and len(result) == 1:
        result = result * 2
    if (result is None or len(result) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in result)):
        raise ShapeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return result


def check_positive_int(op, name, value, error=ValueError):
    """Raise ``error`` naming ``op`` and ``name`` unless ``value`` is an int ≥ 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise error(f"{op}: {name} must be a positive integer, got {value!r}")


def check_same_dtype(op, operands):
    """PyTorch refuses to mix dtypes, and so do we: a TypeError naming ``op`` and two of
    ``operands`` ({name: tensor or None}) whose dtypes differ."""
    named = [(name, x) for name, x in operands.items() if x is not None]
    first_name, first = named[0]
    for name, other in named[1:]:
        if other.dtype != first.dtype:
            raise TypeError(f"{op}: {first_name} is {first.dtype} but {name} is {other.dtype}; "
                            "expected the same dtype (convert one of them first)")


def dim_index(op, dim, ndim):
    """``dim`` (negative counts from the end) as an index in range(ndim); a 0-d
    tensor accepts 0 and -1, as in PyTorch. IndexError names ``op`` otherwise."""
    bound = ndim if ndim else 1
    if not -bound <= dim < bound:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dims "
                         f"(expected {-bound} to {bound - 1})")
    return dim % bound


def check_new_shape(shape, new):
    """reshape/view: ``new`` (ints, at most one −1) must hold as many elements as ``shape``."""
    known = math.prod(size for size in new if size != -1)
    unknown = sum(1 for size in new if size == -1)
    total = math.prod(shape)
    if (unknown > 1 or any(size < -1 for size in new)
            or (total != known if not unknown else known == 0 or total % known)):
        raise ShapeError(f"reshape: shape {tuple(shape)} ({total} elements) cannot be viewed as "
                         f"{tuple(new)}" + (" (at most one -1)" if unknown > 1 else ""))


def check_ndim(op, x, layouts):
    """x.ndim must be one of ``layouts`` ({ndim: 'layout'}); the error lists them."""
    if x.ndim not in layouts:
        expected = " or ".join(f"a {ndim}-D input {layout}" for ndim, layout in layouts.items())
        raise ShapeError(f"{op}: expected {expected}, got shape {tuple(x.shape)}")


def check_padding(op, padding, stride):
    """``padding`` as conv2d takes it: an int or a pair (as a pair), 'valid', or 'same'
    (stride 1 only); anything else is an error naming ``op``."""
    if not isinstance(padding, str):
        return pair(padding, "padding", op)
    if padding not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', "
                         f"got {padding!r}")
    if padding == "same" and pair(stride, "stride", op) != (1, 1):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                         f"(stride={stride!r})")
    return padding


def check_conv_inputs(x, weight, bias, groups):
    """Shapes, groups and dtypes of conv2d's inputs, each error naming what is wrong."""
    if weight.ndim != 4:
        raise ShapeError(f"conv2d: expected a 4-D weight (O, C/groups, KH, KW), got shape "
                         f"{tuple(weight.shape)}")
    check_positive_int("conv2d", "groups", groups, ShapeError)
    if len(weight) % groups:
        raise ShapeError(f"conv2d: groups={groups} must divide the weight's {len(weight)} output "
                         f"channels (weight shape {tuple(weight.shape)})")
    if x.shape[1] != weight.shape[1] * groups:
        raise ShapeError(f"conv2d: expected {weight.shape[1] * groups} input channels, got "
                         f"{x.shape[1]} (input shape {tuple(x.shape)}, weight shape "
                         f"{tuple(weight.shape)}, groups={groups})")
    if bias is not None and tuple(bias.shape) != (len(weight),):
        raise ShapeError(f"conv2d: bias shape {tuple(bias.shape)} does not match "
                         f"{len(weight)} output channels")
    check_same_dtype("conv2d", {"the input": x, "the weight": weight, "the bias": bias})


def class_dim(op, input):
    """The class axis: 0 for one sample (C,), else 1."""
    if input.ndim == 0:
        raise ShapeError(f"{op}: expected an input (N, C), (C,) or (N, C, d1, ...), "
                         "got a 0-d tensor")
    return 0 if input.ndim == 1 else 1


def check_loss_options(op, reduction, label_smoothing=0.0):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must lie in [0, 1], got {label_smoothing}")


def constant_on_device(op, name, value, input):
    """``value`` (array, tensor or list of numbers) as a raw array of the input's dtype on
    the input's device; an array on another device is an error, as for any op."""
    data = value.data if is_tensor(value) else value
    if backend.is_array(data):
        backend.check_same_device(op, [input.data, data])
    else:
        data = backend.to_device(np.asarray(data), input.device)
    if data.dtype.kind not in "fiub":
        raise TypeError(f"{op}: {name} must hold numbers, got dtype {data.dtype}")
    return data.astype(input.dtype, copy=False)


def broadcast_constant(op, name, value, input, hint):
    """:func:`constant_on_device`, and checked to broadcast to the input's shape; None stays None."""
    if value is None:
        return None
    data = constant_on_device(op, name, value, input)
    try:
        fits = np.broadcast_shapes(data.shape, input.shape) == input.shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"{op}: {name} of shape {data.shape} does not broadcast to the input's "
                         f"shape {input.shape} ({hint})")
    return data


def checked_labels(op, target, input, dim, ignore_index):
    """Integer class labels, checked on the host (a GPU would index out of range
    silently), as int64 on the input's device."""
    labels = target.data if is_tensor(target) else target
    host = np.asarray(backend.to_device(labels, "cpu") if backend.is_array(labels) else labels)
    expected = input.shape[:dim] + input.shape[dim + 1:]
    if host.dtype.kind not in "iu":
        hint = (f"; floating targets are class probabilities, shaped like the input "
                f"{input.shape}" if host.dtype.kind == "f" and op == "cross_entropy" else "")
        raise TypeError(f"{op}: class labels must be integers, got dtype {host.dtype}{hint}")
    if host.shape != expected:
        raise ShapeError(f"{op}: expected labels of shape {expected} for an input of shape "
                         f"{input.shape}, got labels of shape {host.shape}")
    classes, checked = input.shape[dim], host[host != ignore_index]
    if checked.size and (checked.min() < 0 or checked.max() >= classes):
        raise ValueError(f"{op}: labels must lie in [0, {classes}) or equal ignore_index "
                         f"({ignore_index}), got values from {checked.min()} to {checked.max()}")
    return backend.to_device(host.astype(np.int64), input.device)


def adaptive_size(op, output_size, in_size):
    """``output_size`` (an int, or a pair whose None entries keep the input's size) as a pair."""
    sizes = (output_size, output_size) if isinstance(output_size, int) else output_size
    try:
        sizes = tuple(n if o is None else o for o, n in zip(sizes, in_size, strict=True))
    except (TypeError, ValueError):
        sizes = None
    if sizes is None or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0
                                for o in sizes):
        raise ShapeError(f"{op}: output_size must be an int ≥ 0 or a pair of them "
                         f"(None keeps the input's size), got {output_size!r}")
    return sizes
