"""Adam and AdamW, with PyTorch's exact algorithm."""
import math

from minigrad.backend import get_array_module
from minigrad.optim.optimizer import Optimizer, check_non_negative, gradient_with_decay

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba), step by step as ``torch.optim.Adam`` does it.

    With g = grad + weight_decay·p and t counting from 1::

        m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²
        p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + eps)

    ``decoupled_weight_decay=True`` (AdamW) shrinks p ← p (1 − lr·weight_decay)
    first and leaves g = grad.
    """

    state_fields = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False):
        check_non_negative({"learning rate": lr, "epsilon value": eps,
                            "weight_decay value": weight_decay})
        for index in (0, 1):
            if not 0.0 <= betas[index] < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: {betas[index]}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def step(self):
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            eps, weight_decay = group["eps"], group["weight_decay"]
            for p in self.params_with_grad(group):
                if group["decoupled_weight_decay"]:
                    p.data *= 1 - lr * weight_decay
                    grad = p.grad
                else:
                    grad = gradient_with_decay(p, weight_decay)
                xp = get_array_module(p.data)
                state = self.state.setdefault(p, {})
                if not state:
                    state.update(step=0, exp_avg=xp.zeros_like(p.data),
                                 exp_avg_sq=xp.zeros_like(p.data))
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m *= beta1
                m += (1 - beta1) * grad
                v *= beta2
                v += (1 - beta2) * grad * grad
                step_size = lr / (1 - beta1 ** t)
                denom = xp.sqrt(v) / math.sqrt(1 - beta2 ** t) + eps
                p.data -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay, decoupled_weight_decay=True)
