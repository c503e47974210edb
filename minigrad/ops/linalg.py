"""Matrix products: matmul and the fused linear layer."""
from minigrad.tensor import Function, ShapeError, unbroadcast

__all__ = ["linear", "matmul"]


class MatMul(Function):
    """Y = A @ B (2-D, or batched over leading axes that broadcast).

    dA = dY @ Bᵀ,   dB = Aᵀ @ dY   (ᵀ swaps the last two axes), each summed
    back over broadcast batch axes.
    """

    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit "
                             "(both need ≥ 2 axes and A's last must equal B's second-to-last)")
        self.a, self.b = a, b
        return a @ b

    def backward(self, grad_out):
        grad_a = grad_b = None
        if self.needs_grad[0]:
            grad_a = unbroadcast(grad_out @ self.b.swapaxes(-1, -2), self.a.shape)
        if self.needs_grad[1]:
            grad_b = unbroadcast(self.a.swapaxes(-1, -2) @ grad_out, self.b.shape)
        return grad_a, grad_b


class Linear(Function):
    """y = x Wᵀ + b with x (N, in), W (out, in), b (out,).

    dx = dy W,   dW = dyᵀ x,   db = Σₙ dy.
    """

    def forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        y = x @ weight.T
        if bias is not None:
            y += bias
        return y

    def backward(self, grad_out):
        grad_x = grad_out @ self.weight if self.needs_grad[0] else None
        grad_w = grad_out.T @ self.x if self.needs_grad[1] else None
        grad_b = grad_out.sum(axis=0) if len(self.needs_grad) > 2 and self.needs_grad[2] else None
        return grad_x, grad_w, grad_b


def matmul(a, b):
    return MatMul.apply(a, b)


def linear(x, weight, bias=None):
    """``x @ weight.T + bias``, checking that the feature counts agree."""
    if x.ndim != 2:
        raise ShapeError(f"linear: expected a 2-D input (N, in_features), got shape {x.shape}")
    if x.shape[1] != weight.shape[1]:
        raise ShapeError(f"linear: expected {weight.shape[1]} input features "
                         f"(weight {weight.shape}), got input of shape {x.shape}")
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)
