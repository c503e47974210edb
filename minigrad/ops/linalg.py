"""Matrix products: matmul and the fully connected layer's linear, with
PyTorch's shapes (1-D operands, broadcast batch dims) and its dtype rule
(both operands of one dtype; nothing is converted silently)."""
import math

from minigrad.autograd import Function, ShapeError, unbroadcast
from minigrad.checks import check_same_dtype

__all__ = ["linear", "matmul"]


class MatMul(Function):
    """Y = A @ B.   dA = dY @ Bᵀ,   dB = Aᵀ @ dY   (ᵀ swaps the last two dims).

    Gradients are summed over broadcast batch dims. A 1-D A is a row (1, k), a 1-D B a
    column (k, 1), the extra dim dropped from Y; backward puts it back into dY.
    """

    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, grad_out):
        a = self.a[None, :] if self.a.ndim == 1 else self.a  # (1, k)
        b = self.b[:, None] if self.b.ndim == 1 else self.b  # (k, 1)
        grad = grad_out[..., None] if self.b.ndim == 1 else grad_out
        grad = grad[..., None, :] if self.a.ndim == 1 else grad
        grad_a = grad_b = None
        if self.needs_grad[0]:
            grad_a = unbroadcast(grad @ b.swapaxes(-1, -2), a.shape).reshape(self.a.shape)
        if self.needs_grad[1]:
            grad_b = unbroadcast(a.swapaxes(-1, -2) @ grad, b.shape).reshape(self.b.shape)
        return grad_a, grad_b


class Affine(Function):
    """y = x Wᵀ + b.   dx = dy W,   dW = dyᵀ x,   db = Σ dy over every dim but the last.

    x (*, in), W (out, in): for dW and db the leading dims are merged, a row per sample.
    """

    def forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        y = x @ weight.T
        if bias is not None:
            y += bias
        return y

    def backward(self, grad_out):
        rows = math.prod(grad_out.shape[:-1])
        grad_rows = grad_out.reshape(rows, grad_out.shape[-1])  # (rows, out)
        grad_x = grad_out @ self.weight if self.needs_grad[0] else None
        grad_weight = None
        if self.needs_grad[1]:
            grad_weight = grad_rows.T @ self.x.reshape(rows, self.x.shape[-1])
        grad_bias = None
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            grad_bias = grad_rows.sum(axis=0)
        return grad_x, grad_weight, grad_bias


def matmul(a, b):
    """``a @ b`` as ``torch.matmul``: 1-D operands, and batch dims that broadcast."""
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both operands need at least 1 dim, got shapes {a.shape} "
                         f"and {b.shape}")
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]  # aligned from the right, as in broadcasting
    batch_fits = all(m == n or 1 in (m, n) for m, n in zip(reversed(batch_a), reversed(batch_b)))
    if a.shape[-1] != inner_b or not batch_fits:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit (A's last dim must "
                         "equal B's second-to-last, and the batch dims must broadcast)")
    check_same_dtype("matmul", {"a": a, "b": b})
    return MatMul.apply(a, b)


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` for x (*, in_features), as ``torch.nn.functional.linear``."""
    if weight.ndim != 2 or x.ndim == 0:
        raise ShapeError(f"linear: expected weight (out_features, in_features) and input "
                         f"(*, in_features), got weight {weight.shape} and input {x.shape}")
    if x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: expected {weight.shape[1]} input features "
                         f"(weight {weight.shape}), got input of shape {x.shape}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ShapeError(f"linear: expected a bias of shape ({weight.shape[0]},) for weight "
                         f"{weight.shape}, got {bias.shape}")
    check_same_dtype("linear", {"input": x, "weight": weight, "bias": bias})
    if bias is None:
        return Affine.apply(x, weight)
    return Affine.apply(x, weight, bias)
