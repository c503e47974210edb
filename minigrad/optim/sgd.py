"""Stochastic gradient descent with momentum, as ``torch.optim.SGD``."""
from minigrad.optim.optimizer import Optimizer, check_non_negative, gradient_with_decay

__all__ = ["SGD"]


class SGD(Optimizer):
    """With g = grad + weight_decay·p:  b ← momentum·b + (1 − dampening)·g (b = g at the
    first step), then p ← p − lr·b, or with ``nesterov`` p ← p − lr·(g + momentum·b).
    Without momentum: p ← p − lr·g."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        check_non_negative({"learning rate": lr, "momentum value": momentum,
                            "weight_decay value": weight_decay})
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def step(self):
        for group in self.param_groups:
            lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
            for p in self.params_with_grad(group):
                grad = gradient_with_decay(p, weight_decay)
                if momentum:
                    state = self.state.setdefault(p, {})
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = grad.copy()
                    else:
                        state["momentum_buffer"] *= momentum
                        state["momentum_buffer"] += (1 - group["dampening"]) * grad
                    buffer = state["momentum_buffer"]
                    grad = grad + momentum * buffer if group["nesterov"] else buffer
                p.data -= lr * grad
