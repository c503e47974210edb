"""Memory, beside the engine: the CPU allocator, and convolution within a memory budget.

``keep_freed_memory`` lets a training step reuse what the last one freed (glibc only):
the training command and the benchmarks switch it on; ``import minigrad`` changes
nothing outside minigrad. ``conv2d`` (what ``F.conv2d`` and ``nn.Conv2d`` call) is the
textbook ``minigrad.ops.conv.conv2d``, convolving a batch chunk by chunk where its patch
matrix U would exceed ``set_memory_budget`` (512 MiB by default).
"""
import ctypes

from minigrad.backend import get_array_module
from minigrad.checks import check_positive_int
from minigrad.ops import conv

__all__ = ["M_MMAP_THRESHOLD", "M_TRIM_THRESHOLD", "ChunkedConvolution", "ConvolutionWithinBudget",
           "chunk_size", "conv2d", "keep_freed_memory", "set_memory_budget"]

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameter numbers


def keep_freed_memory(largest=32 * 2**20, kept=256 * 2**20):
    """Let glibc's malloc keep freed memory for reuse; True if it took the settings.

    A step frees and reallocates the same large arrays; by default glibc returns
    them to the kernel and the next step page-faults them back (about a quarter
    of a CPU step). Only where memory comes from changes, never a value. It changes
    the whole process's allocator, so nothing calls it on import: the training command
    and the benchmarks switch it on.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this Python runs on
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, largest)) and bool(mallopt(M_TRIM_THRESHOLD, kept))


# ----- conv2d within a memory budget: U holds K·L·N numbers; over budget, a chunk of images at a time

_memory_budget = 512 * 2**20  # bytes for U; set_memory_budget() changes it


def set_memory_budget(nbytes):
    """Let conv2d's patch matrix U take at most ``nbytes`` bytes (default 512 MiB), a
    larger batch being convolved in chunks of images; returns the previous budget."""
    global _memory_budget
    check_positive_int("set_memory_budget", "nbytes", nbytes)
    previous, _memory_budget = _memory_budget, nbytes
    return previous


def chunk_size(x, window):
    """None when U for the whole batch fits the budget, else how many images fit."""
    (kh, kw), (oh, ow) = window.kernel, window.out_size
    per_image = x.shape[1] * kh * kw * oh * ow * x.dtype.itemsize
    if len(x) * per_image <= _memory_budget:
        return None
    if per_image > _memory_budget:
        raise MemoryError(
            f"conv2d: the patch matrix U of one image (shape {tuple(x.shape[1:])}) needs "
            f"{per_image:,} bytes, more than the memory budget of {_memory_budget:,} bytes; "
            f"raise it with minigrad.memory.set_memory_budget(nbytes) or use smaller images")
    return _memory_budget // per_image


class ChunkedConvolution(conv.Convolution):
    """Convolution, ``chunk`` images at a time; backward recomputes each chunk's U.
    dW and db are sums over the chunks, so they may differ from Convolution's in the last bits."""

    def forward(self, x, weight, bias=None, window=None, groups=1, chunk=1):
        xp = get_array_module(x)
        self.x, self.chunk = x, chunk
        y = xp.empty((len(weight),) + window.out_size + (len(x),), dtype=x.dtype)  # (O, OH, OW, N)
        for start in range(0, len(x), chunk):
            part = super().forward(x[start:start + chunk], weight, bias, window, groups)
            y[..., start:start + chunk] = part.transpose(1, 2, 3, 0)
            self.cols = None  # this chunk's U is done with
        return y.transpose(3, 0, 1, 2)

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        parts = []
        for start in range(0, len(self.x), self.chunk):
            images = slice(start, start + self.chunk)
            self.cols = conv.grouped(conv.im2col(self.x[images], self.window), len(self.weight_matrix))
            parts.append(super().backward(grad_out[images]))
        grad_x, grad_weight, grad_bias = zip(*parts)  # each chunk's dX, dW, db
        return (None if grad_x[0] is None else xp.concatenate(grad_x),
                None if grad_weight[0] is None else sum(grad_weight),
                None if grad_bias[0] is None else sum(grad_bias))


class ConvolutionWithinBudget:
    """Convolution, or ChunkedConvolution when U for the whole batch would not fit."""

    @staticmethod
    def apply(x, *rest, window, groups):
        chunk = chunk_size(x, window)
        if chunk is None:
            return conv.Convolution.apply(x, *rest, window=window, groups=groups)
        return ChunkedConvolution.apply(x, *rest, window=window, groups=groups, chunk=chunk)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``minigrad.ops.conv.conv2d`` within the memory budget: a batch whose patch matrix U
    would exceed it is convolved a chunk of images at a time (this is F.conv2d)."""
    return conv.convolve(ConvolutionWithinBudget, x, weight, bias, stride, padding, dilation,
                         groups)
