"""Convolution as unfold → matmul → reshape, with its backward written out.

Notation (NCHW): N batch, C input and O output channels, H×W input, KH×KW kernel,
OH×OW output (ops/window.py), L = OH·OW positions, K = C·KH·KW numbers in a patch,
G groups (output channel group g sees input channel group g only).

Forward, for x (N, C, H, W) and weight (O, C/G, KH, KW)::

    unfold    U  = unfold(x)        (K, L·N): column (l, n) is the patch of image n
                                    under output position l; seen as (G, K/G, L·N)
    matmul    Y' = W' U             W' = weight as (G, O/G, K/G):
                                    (G, O/G, K/G) @ (G, K/G, L·N) → (G, O/G, L·N)
    reshape   Y  = Y' as (O, OH, OW, N), viewed as (N, O, OH, OW), plus the bias

Backward, given dY (N, O, OH, OW) and dY' = dY as (G, O/G, L·N)::

    dW' = dY' Uᵀ     (G, O/G, L·N) @ (G, L·N, K/G) → (G, O/G, K/G), shaped like the weight
    db  = Σ over L·N of dY'
    dU  = W'ᵀ dY'    (G, K/G, O/G) @ (G, O/G, L·N) → (G, K/G, L·N)
    dX  = fold(dU)   each patch entry goes back to the pixel it was copied from;
                     patches overlap, so overlapping entries add up

With G = 1 each product is one matrix product for the whole batch. ``fold`` is
the adjoint of ``unfold`` (⟨unfold(x), u⟩ = ⟨x, fold(u)⟩), which is why each is
the other's backward. The public ``unfold`` returns PyTorch's layout (N, K, L).

Memory order: the image index is innermost (U's columns run over positions, then
images; Y is stored (O, OH, OW, N) behind the (N, O, OH, OW) a user sees), so every
strided slice of unfold, fold and pooling moves rows of OW·N numbers, not OW.
"""
from minigrad.autograd import Function, ShapeError
from minigrad.backend import get_array_module
from minigrad.checks import check_conv_inputs, check_ndim, check_padding, pair
from minigrad.ops.shape import getitem, reshape
from minigrad.ops.window import make_window, output_size, taps

__all__ = ["Convolution", "Fold", "Unfold", "col2im", "conv2d", "conv_output_size", "convolve",
           "fold", "grouped", "im2col", "unfold"]


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    """⌊(size + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1, for ints or pairs."""
    if isinstance(size, int):
        return output_size(size, kernel, stride, padding, dilation)
    return make_window("conv_output_size", size, kernel, stride, padding, dilation).out_size


def im2col(x, window):
    """im2col on raw arrays: x (N, C, H, W) → U (C·KH·KW, OH·OW·N); one strided
    slice per kernel tap copies that tap's pixel for every position and image."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (kh, kw), (ph, pw), (oh, ow) = window.kernel, window.padding, window.out_size
    padded = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)
    padded[:, ph:ph + h, pw:pw + w] = x.transpose(1, 2, 3, 0)
    cols = xp.empty((c, kh * kw, oh, ow, n), dtype=x.dtype)
    for k, (rows, columns) in enumerate(taps(window)):
        cols[:, k] = padded[:, rows, columns]
    return cols.reshape(c * kh * kw, oh * ow * n)


def col2im(cols, shape, window):
    """col2im, the adjoint of ``im2col``: U → x of ``shape`` (N, C, H, W); the same
    slices, added into the image instead of copied out, so overlaps sum."""
    xp = get_array_module(cols)
    n, c, h, w = shape
    (kh, kw), (ph, pw), (oh, ow) = window.kernel, window.padding, window.out_size
    cols = cols.reshape(c, kh * kw, oh, ow, n)
    image = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=cols.dtype)
    for k, (rows, columns) in enumerate(taps(window)):
        image[:, rows, columns] += cols[:, k]
    return image[:, ph:ph + h, pw:pw + w].transpose(3, 0, 1, 2)


def _batch_major(cols, n, window):
    """U (K, L·N) → PyTorch's layout (N, K, L), a view."""
    return cols.reshape(len(cols), window.out_size[0] * window.out_size[1], n).transpose(2, 0, 1)


def grouped(matrix, groups):
    """(R, P) → (G, R/G, P): the rows of each group as one matrix of a stack."""
    return matrix.reshape(groups, len(matrix) // groups, -1)


class Unfold(Function):
    """U = unfold(x), PyTorch's layout (N, K, L).   Linear, so dx = fold(dU) (its adjoint)."""

    def forward(self, x, window):
        self.shape, self.window = x.shape, window
        return _batch_major(im2col(x, window), len(x), window)

    def backward(self, grad_out):
        return (col2im(grad_out.transpose(1, 2, 0), self.shape, self.window),)


class Fold(Function):
    """x = fold(U), U in PyTorch's layout (N, K, L), overlaps summed.   dU = unfold(dx)."""

    def forward(self, cols, shape, window):
        self.window = window
        return col2im(cols.transpose(1, 2, 0), shape, window)

    def backward(self, grad_out):
        return (_batch_major(im2col(grad_out, self.window), len(grad_out), self.window),)


class Convolution(Function):
    """Y = W' · unfold(x) + b, reshaped.   dW' = dY'Uᵀ, db = ΣdY', dX = fold(W'ᵀdY')."""

    def forward(self, x, weight, bias=None, window=None, groups=1):
        n, out_channels, (oh, ow) = len(x), len(weight), window.out_size
        self.image_shape, self.window, self.weight_shape = x.shape[1:], window, weight.shape
        self.cols = grouped(im2col(x, window), groups)                  # U  (G, K/G, L·N)
        self.weight_matrix = grouped(weight.reshape(out_channels, -1), groups)  # W' (G, O/G, K/G)
        y = self.weight_matrix @ self.cols                                # Y' (G, O/G, L·N)
        y = y.reshape(out_channels, oh, ow, n)                            # Y  (O, OH, OW, N)
        if bias is not None:
            y += bias.reshape(out_channels, 1, 1, 1)
        return y.transpose(3, 0, 1, 2)                                    # seen as (N, O, OH, OW)

    def backward(self, grad_out):
        n, out_channels = grad_out.shape[:2]
        grad_y = grad_out.transpose(1, 2, 3, 0).reshape(out_channels, -1)
        grad_y = grouped(grad_y, len(self.weight_matrix))                # dY' (G, O/G, L·N)
        grad_x = grad_weight = grad_bias = None
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            grad_bias = grad_y.sum(axis=2).reshape(out_channels)          # db = Σ dY'
        if self.needs_grad[1]:
            grad_weight = grad_y @ self.cols.transpose(0, 2, 1)           # dW' = dY' Uᵀ
            grad_weight = grad_weight.reshape(self.weight_shape)
        self.cols = None  # U is done with: free it before dU, which is as large
        if self.needs_grad[0]:
            grad_cols = self.weight_matrix.transpose(0, 2, 1) @ grad_y    # dU = W'ᵀ dY'
            grad_x = col2im(grad_cols, (n,) + self.image_shape, self.window)  # dX = fold(dU)
        return grad_x, grad_weight, grad_bias


def _unbatched(fn, x, *args):
    """``fn`` on a batch of one: x (C, ...) → (1, C, ...) → fn → the batch axis dropped."""
    y = fn(reshape(x, 1, *x.shape), *args)
    return reshape(y, *y.shape[1:])


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Patches of ``x`` (N, C, H, W) as columns (N, C·KH·KW, L), as in PyTorch;
    an unbatched (C, H, W) gives (C·KH·KW, L)."""
    check_ndim("unfold", x, {3: "(C, H, W)", 4: "(N, C, H, W)"})
    if x.ndim == 3:
        return _unbatched(unfold, x, kernel_size, dilation, padding, stride)
    window = make_window("unfold", x.shape[2:], kernel_size, stride, padding, dilation)
    return Unfold.apply(x, window=window)


def fold(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The adjoint of :func:`unfold`: columns (N, C·KH·KW, L) back to an image
    (N, C, *output_size), overlaps summed; unbatched (C·KH·KW, L) give (C, H, W)."""
    check_ndim("fold", cols, {2: "(C·KH·KW, L)", 3: "(N, C·KH·KW, L)"})
    if cols.ndim == 2:
        return _unbatched(fold, cols, output_size, kernel_size, dilation, padding, stride)
    size = pair(output_size, "output_size", "fold")
    window = make_window("fold", size, kernel_size, stride, padding, dilation)
    patch, positions = window.kernel[0] * window.kernel[1], window.out_size[0] * window.out_size[1]
    if cols.shape[1] % patch or cols.shape[2] != positions:
        raise ShapeError(f"fold: expected columns (N, C·{window.kernel[0]}·{window.kernel[1]}, "
                         f"{positions}) for output size {size}, got {tuple(cols.shape)}")
    return Fold.apply(cols, shape=(len(cols), cols.shape[1] // patch) + size, window=window)


def _padding(padding, kernel, stride, dilation):
    """conv2d's ``padding`` → (a pair for make_window(), output rows and columns to crop).
    'same' needs d·(k − 1) zeros; PyTorch puts an odd one at the bottom (right), which
    is ⌈total/2⌉ on both sides and then dropping the first output row (column)."""
    padding = check_padding("conv2d", padding, stride)
    if padding == "valid":
        return 0, (0, 0)
    if padding != "same":
        return padding, (0, 0)
    # A bad kernel or dilation is reported by make_window() in conv2d.
    totals = [max(d * (k - 1), 0) for k, d in zip(kernel, pair(dilation, "dilation", "conv2d"))]
    return tuple((t + 1) // 2 for t in totals), tuple(t % 2 for t in totals)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation with PyTorch's arguments: x (N, C, H, W) or (C, H, W),
    weight (O, C/groups, KH, KW), bias (O,) → (N, O, OH, OW) or (O, OH, OW);
    ``padding`` also 'valid' or 'same' (stride 1 only)."""
    return convolve(Convolution, x, weight, bias, stride, padding, dilation, groups)


def convolve(op, x, weight, bias, stride, padding, dilation, groups):
    """conv2d, with the Function ``op`` doing the convolution itself (Convolution;
    minigrad.memory passes one that keeps U within a memory budget)."""
    check_ndim("conv2d", x, {3: "(C, H, W)", 4: "(N, C, H, W)"})
    if x.ndim == 3:
        return _unbatched(lambda batch: convolve(op, batch, weight, bias, stride, padding,
                                                 dilation, groups), x)
    check_conv_inputs(x, weight, bias, groups)
    padding, (top, left) = _padding(padding, weight.shape[2:], stride, dilation)
    window = make_window("conv2d", x.shape[2:], weight.shape[2:], stride, padding, dilation)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    y = op.apply(*inputs, window=window, groups=groups)
    if top or left:  # 'same' with an odd total padding: see _padding
        y = getitem(y, (slice(None), slice(None), slice(top, None), slice(left, None)))
    return y
