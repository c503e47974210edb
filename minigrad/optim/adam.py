"""Adam, with PyTorch's exact algorithm."""
import math

from minigrad.backend import get_array_module
from minigrad.optim.optimizer import Optimizer

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam (Kingma & Ba), step by step as ``torch.optim.Adam`` does it.

    With g = grad + weight_decay·p and t counting from 1::

        m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²
        p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + eps)
    """

    buffer_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def step(self):
        lr, (beta1, beta2) = self.hyper["lr"], self.hyper["betas"]
        eps, weight_decay = self.hyper["eps"], self.hyper["weight_decay"]
        exp_avgs, exp_avg_sqs = self.buffers["exp_avg"], self.buffers["exp_avg_sq"]
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            xp = get_array_module(p.data)
            grad = p.grad if weight_decay == 0 else p.grad + weight_decay * p.data
            if exp_avgs[i] is None:
                exp_avgs[i], exp_avg_sqs[i] = xp.zeros_like(p.data), xp.zeros_like(p.data)
            self.steps[i] += 1
            t, m, v = self.steps[i], exp_avgs[i], exp_avg_sqs[i]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            step_size = lr / (1 - beta1 ** t)
            denom = xp.sqrt(v) / math.sqrt(1 - beta2 ** t) + eps
            p.data -= step_size * (m / denom)
