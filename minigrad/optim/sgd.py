"""Stochastic gradient descent with momentum, as ``torch.optim.SGD``."""
from minigrad.optim.optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """With g = grad + weight_decay·p:  b ← momentum·b + g (b = g at the first
    step), then p ← p − lr·b.  Without momentum: p ← p − lr·g."""

    buffer_names = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    def step(self):
        lr, momentum = self.hyper["lr"], self.hyper["momentum"]
        weight_decay, buffers = self.hyper["weight_decay"], self.buffers["momentum_buffer"]
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            grad = p.grad if weight_decay == 0 else p.grad + weight_decay * p.data
            self.steps[i] += 1
            if momentum:
                if buffers[i] is None:
                    buffers[i] = grad.copy()
                else:
                    buffers[i] *= momentum
                    buffers[i] += grad
                grad = buffers[i]
            p.data -= lr * grad
