"""Convolution as unfold → matmul → reshape, with its backward written out.

Notation (PyTorch's layout, NCHW)::

    N        batch size              C   input channels     O  output channels
    H, W     input height and width  KH, KW  kernel height and width
    sh, sw   strides                 ph, pw  zero padding on each side
    OH = ⌊(H + 2·ph − KH) / sh⌋ + 1,  OW = ⌊(W + 2·pw − KW) / sw⌋ + 1
    L  = OH·OW   output positions    K  = C·KH·KW  numbers in one patch

Forward, for x (N, C, H, W) and weight (O, C, KH, KW)::

    unfold    U  = unfold(x)                      (K, N·L)   column (n, l) = the patch
                                                             of image n under output
                                                             position l
    matmul    Y' = W' U,  W' = weight as (O, K)   (O, K) @ (K, N·L) → (O, N·L)
    reshape   Y  = Y' as (O, N, OH, OW), viewed as (N, O, OH, OW), plus the bias

Backward, given dY (N, O, OH, OW) and dY' = dY as (O, N·L)::

    dW' = dY' Uᵀ           (O, N·L) @ (N·L, K) → (O, K), reshaped like the weight
    db  = Σ over N·L of dY'
    dU  = W'ᵀ dY'          (K, O) @ (O, N·L) → (K, N·L)
    dX  = fold(dU)         each patch entry goes back to the pixel it was copied
                           from; patches overlap, so overlapping entries add up

The public ``unfold`` returns PyTorch's layout (N, K, L); inside conv2d the
patches of all N images stand side by side, (K, N·L), so that each product
above is one large matrix product instead of N small ones. Its output keeps
that channel-major memory order and is handed on as an (N, O, OH, OW) view:
the next layers (ReLU, pooling, the next conv) work in whatever order the
memory is in, so no layer spends time transposing.

``fold`` is the adjoint of ``unfold``: ⟨unfold(x), u⟩ = ⟨x, fold(u)⟩ for all
x and u, which is exactly why it is unfold's backward (and unfold is fold's).
"""
from minigrad.backend import get_array_module
from minigrad.tensor import Function, ShapeError

__all__ = ["conv2d", "conv_output_size", "fold", "unfold"]


def _pair(value, name):
    """An int or a pair of ints, as a pair."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ShapeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def conv_output_size(size, kernel, stride=1, padding=0):
    """⌊(size + 2·padding − kernel) / stride⌋ + 1, per axis (ints or pairs)."""
    if isinstance(size, int):
        return (size + 2 * padding - kernel) // stride + 1
    sizes, kernels = _pair(size, "size"), _pair(kernel, "kernel")
    strides, paddings = _pair(stride, "stride"), _pair(padding, "padding")
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(sizes, kernels, strides, paddings))


def _geometry(op, size, kernel_size, stride, padding):
    """Check a window geometry; return (kernel, stride, padding, (OH, OW)) as pairs."""
    kernel, stride = _pair(kernel_size, "kernel_size"), _pair(stride, "stride")
    padding = _pair(padding, "padding")
    if min(kernel) < 1:
        raise ShapeError(f"{op}: kernel size must be ≥ 1, got {kernel}")
    if min(stride) < 1:
        raise ShapeError(f"{op}: stride must be ≥ 1, got {stride}")
    if min(padding) < 0:
        raise ShapeError(f"{op}: padding must be ≥ 0, got {padding}")
    padded = (size[0] + 2 * padding[0], size[1] + 2 * padding[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ShapeError(f"{op}: kernel {kernel} is larger than the padded input {padded} "
                         f"(input {size}, padding {padding})")
    return kernel, stride, padding, conv_output_size(size, kernel, stride, padding)


def _unfold(x, kernel, stride, padding, out_size):
    """im2col on raw arrays: (N, C, H, W) → (N, C·KH·KW, OH·OW).

    One strided slice per kernel offset (i, j): it picks, for every output
    position, the input pixel that sits under kernel entry (i, j).
    """
    xp = get_array_module(x)
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel, stride, padding, out_size
    n, c, h, w = x.shape
    if ph or pw:
        padded = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
        padded[:, :, ph:ph + h, pw:pw + w] = x
        x = padded
    cols = xp.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    return cols.reshape(n, c * kh * kw, oh * ow)


def _fold(cols, size, kernel, stride, padding, out_size):
    """col2im on raw arrays: (N, C·KH·KW, OH·OW) → (N, C, H, W), overlaps summed.

    The mirror image of ``_unfold``: the same strided slices, but added into
    the image (``+=``) instead of copied out of it.
    """
    xp = get_array_module(cols)
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel, stride, padding, out_size
    (h, w), n = size, cols.shape[0]
    c = cols.shape[1] // (kh * kw)
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    image = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            image[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += cols[:, :, i, j]
    return image[:, :, ph:ph + h, pw:pw + w]


class Unfold(Function):
    """U = unfold(x).   Linear, so dx = fold(dU) (its adjoint)."""

    def forward(self, x, geometry):
        self.size, self.geometry = x.shape[2:], geometry
        return _unfold(x, *geometry)

    def backward(self, grad_out):
        return (_fold(grad_out, self.size, *self.geometry),)


class Fold(Function):
    """x = fold(U), overlaps summed.   Linear, so dU = unfold(dx) (its adjoint)."""

    def forward(self, cols, size, geometry):
        self.geometry = geometry
        return _fold(cols, size, *geometry)

    def backward(self, grad_out):
        return (_unfold(grad_out, *self.geometry),)


def _unfold_rows(x, kernel, padding, out_size):
    """Stride-1 unfold of a whole batch onto a *wide* grid:
    (N, C, H, W) → (C·KH·KW, N·OH·Wp).

    Each row of output positions is Wp = W + 2·pw long instead of OW: its
    last KW − 1 positions are junk that conv2d crops away. In exchange,
    kernel entry (i, j) reads every padded image, flattened, at the constant
    shift i·Wp + j, so each copy is one long run per (channel, image)
    instead of OH short rows: many times faster in NumPy. One spare zero
    row keeps the last shifted run inside its image.
    """
    xp = get_array_module(x)
    (kh, kw), (ph, pw), (oh, _) = kernel, padding, out_size
    n, c, h, w = x.shape
    wp = w + 2 * pw
    padded = xp.zeros((c, n, h + 2 * ph + 1, wp), dtype=x.dtype)
    padded[:, :, ph:ph + h, pw:pw + w] = x.transpose(1, 0, 2, 3)
    flat = padded.reshape(c, n, -1)
    cols = xp.empty((c, kh, kw, n, oh * wp), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            shift = i * wp + j
            cols[:, i, j] = flat[:, :, shift:shift + oh * wp]
    return cols.reshape(c * kh * kw, n * oh * wp)


def _fold_rows(cols, size, n, kernel, padding, out_size):
    """The adjoint of ``_unfold_rows``: wide columns (C·KH·KW, N·OH·Wp) back to
    images (N, C, H, W), overlaps summed. Junk positions must hold zeros (they
    do: they get no gradient). Returns a channel-major (N, C, H, W) view."""
    xp = get_array_module(cols)
    (kh, kw), (ph, pw), (oh, _), (h, w) = kernel, padding, out_size, size
    wp = w + 2 * pw
    c = cols.shape[0] // (kh * kw)
    cols = cols.reshape(c, kh, kw, n, oh * wp)
    image = xp.zeros((c, n, h + 2 * ph + 1, wp), dtype=cols.dtype)
    flat = image.reshape(c, n, -1)
    for i in range(kh):
        for j in range(kw):
            shift = i * wp + j
            flat[:, :, shift:shift + oh * wp] += cols[:, i, j]
    return image[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)


class Conv2d(Function):
    """Y = reshape(W' · unfold(x)) + b; backward as in the module docstring.

    With stride 1 the columns come from ``_unfold_rows`` (rows Wp wide, junk
    cropped after the product); otherwise from ``_unfold`` (rows OW wide),
    rearranged to (K, N·L). The algebra is the same either way.
    """

    def forward(self, x, weight, bias=None, geometry=None):
        xp = get_array_module(x)
        n, c, h, w = x.shape
        out_channels = weight.shape[0]
        kernel, stride, padding, (oh, ow) = geometry
        self.size, self.geometry, self.weight_shape = (h, w), geometry, weight.shape
        self.wide = stride == (1, 1)
        # unfold → matmul → reshape
        if self.wide:
            self.cols = _unfold_rows(x, kernel, padding, (oh, ow))  # U  (K, N·OH·Wp)
            self.width = w + 2 * padding[1]
        else:
            cols = _unfold(x, *geometry)                            # (N, K, L)
            self.cols = cols.transpose(1, 0, 2).reshape(cols.shape[1], -1)  # U (K, N·L)
            self.width = ow
        self.weight_matrix = weight.reshape(out_channels, -1)       # W' (O, K)
        y = self.weight_matrix @ self.cols                          # Y' (O, N·L)
        if bias is not None:
            y += bias.reshape(out_channels, 1)
        y = y.reshape(out_channels, n, oh, self.width)              # Y  (O, N, OH, width)
        if self.wide:
            y = xp.ascontiguousarray(y[..., :ow])                   # crop the junk
        return y.transpose(1, 0, 2, 3)                              # seen as (N, O, OH, OW)

    def backward(self, grad_out):
        xp = get_array_module(grad_out)
        n, out_channels, oh, ow = grad_out.shape
        grad_y = xp.zeros((out_channels, n, oh, self.width), dtype=grad_out.dtype)
        grad_y[..., :ow] = grad_out.transpose(1, 0, 2, 3)  # junk positions get zero
        grad_y = grad_y.reshape(out_channels, -1)                   # dY' (O, N·L)
        grad_x = grad_w = grad_b = None
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            grad_b = grad_y.sum(axis=1)
        if self.needs_grad[1]:
            grad_w = (grad_y @ self.cols.T).reshape(self.weight_shape)  # dW' = dY' Uᵀ
        self.cols = None  # U is done with: free it before dU, which is as large
        if self.needs_grad[0]:
            grad_cols = self.weight_matrix.T @ grad_y               # dU = W'ᵀ dY' (K, N·L)
            kernel, _, padding, out_size = self.geometry
            if self.wide:
                grad_x = _fold_rows(grad_cols, self.size, n, kernel, padding, out_size)
            else:
                grad_cols = grad_cols.reshape(-1, n, oh * ow).transpose(1, 0, 2)
                grad_x = _fold(grad_cols, self.size, *self.geometry)
        return grad_x, grad_w, grad_b


def _check_4d(op, x):
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")


def unfold(x, kernel_size, stride=1, padding=0):
    """Patches of ``x`` (N, C, H, W) as columns: (N, C·KH·KW, L), PyTorch's layout.

    Rows run over channels, then kernel rows, then kernel columns; columns
    over output positions, row by row.
    """
    _check_4d("unfold", x)
    geometry = _geometry("unfold", x.shape[2:], kernel_size, stride, padding)
    return Unfold.apply(x, geometry=geometry)


def fold(cols, output_size, kernel_size, stride=1, padding=0):
    """The adjoint of :func:`unfold`: columns (N, C·KH·KW, L) back to an image
    (N, C, H, W) with ``(H, W) = output_size``, overlapping entries summed."""
    size = _pair(output_size, "output_size")
    kernel, stride, padding, out_size = _geometry("fold", size, kernel_size, stride, padding)
    patch = kernel[0] * kernel[1]
    if cols.ndim != 3 or cols.shape[1] % patch or cols.shape[2] != out_size[0] * out_size[1]:
        raise ShapeError(f"fold: expected columns (N, C·{kernel[0]}·{kernel[1]}, "
                         f"{out_size[0] * out_size[1]}) for output size {size}, got {cols.shape}")
    return Fold.apply(cols, size=size, geometry=(kernel, stride, padding, out_size))


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation, as in PyTorch): x (N, C, H, W),
    weight (O, C, KH, KW), bias (O,) → (N, O, OH, OW)."""
    _check_4d("conv2d", x)
    if weight.ndim != 4:
        raise ShapeError(f"conv2d: expected a 4-D weight (O, C, KH, KW), got shape {weight.shape}")
    if x.shape[1] != weight.shape[1]:
        raise ShapeError(f"conv2d: expected {weight.shape[1]} input channels, got {x.shape[1]} "
                         f"(input shape {x.shape}, weight shape {weight.shape})")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ShapeError(f"conv2d: bias shape {bias.shape} does not match "
                         f"{weight.shape[0]} output channels")
    geometry = _geometry("conv2d", x.shape[2:], weight.shape[2:], stride, padding)
    if bias is None:
        return Conv2d.apply(x, weight, geometry=geometry)
    return Conv2d.apply(x, weight, bias, geometry=geometry)
