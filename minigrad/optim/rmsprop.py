"""RMSprop and Adadelta, step by step as ``torch.optim.RMSprop`` and ``Adadelta``."""
from minigrad.backend import get_array_module
from minigrad.optim.optimizer import Optimizer, check_non_negative, gradient_with_decay

__all__ = ["Adadelta", "RMSprop"]


class RMSprop(Optimizer):
    """With g = grad + weight_decay·p::

        s ← α s + (1 − α) g²                      (the mean square, ``square_avg``)
        a = √s + eps, or with ``centered`` a = √(s − ḡ²) + eps, ḡ ← α ḡ + (1 − α) g
        p ← p − lr · g / a, or with momentum  b ← momentum·b + g / a,  p ← p − lr·b
    """

    state_fields = ("step", "square_avg")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        check_non_negative({"learning rate": lr, "epsilon value": eps, "momentum value": momentum,
                            "weight_decay value": weight_decay, "alpha value": alpha})
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def step(self):
        for group in self.param_groups:
            lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
            for p in self.params_with_grad(group):
                xp = get_array_module(p.data)
                grad = gradient_with_decay(p, group["weight_decay"])
                state = self.state.setdefault(p, {})
                if not state:
                    state.update(step=0, square_avg=xp.zeros_like(p.data))
                    if momentum > 0:
                        state["momentum_buffer"] = xp.zeros_like(p.data)
                    if group["centered"]:
                        state["grad_avg"] = xp.zeros_like(p.data)
                state["step"] += 1
                square_avg = state["square_avg"]
                square_avg *= alpha
                square_avg += (1 - alpha) * grad * grad
                if group["centered"]:
                    state["grad_avg"] *= alpha
                    state["grad_avg"] += (1 - alpha) * grad
                    avg = xp.sqrt(square_avg - state["grad_avg"] ** 2) + eps
                else:
                    avg = xp.sqrt(square_avg) + eps
                if momentum > 0:
                    state["momentum_buffer"] *= momentum
                    state["momentum_buffer"] += grad / avg
                    p.data -= lr * state["momentum_buffer"]
                else:
                    p.data -= lr * (grad / avg)


class Adadelta(Optimizer):
    """With g = grad + weight_decay·p (Zeiler, 2012)::

        s ← ρ s + (1 − ρ) g²                 (``square_avg``)
        Δ = √(u + eps) / √(s + eps) · g      (u: ``acc_delta``, the mean square of steps)
        u ← ρ u + (1 − ρ) Δ²,   p ← p − lr·Δ
    """

    state_fields = ("step", "square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        check_non_negative({"learning rate": lr, "epsilon value": eps,
                            "weight_decay value": weight_decay})
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def step(self):
        for group in self.param_groups:
            lr, rho, eps = group["lr"], group["rho"], group["eps"]
            for p in self.params_with_grad(group):
                xp = get_array_module(p.data)
                grad = gradient_with_decay(p, group["weight_decay"])
                state = self.state.setdefault(p, {})
                if not state:
                    state.update(step=0, square_avg=xp.zeros_like(p.data),
                                 acc_delta=xp.zeros_like(p.data))
                state["step"] += 1
                square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                square_avg *= rho
                square_avg += (1 - rho) * grad * grad
                delta = xp.sqrt(acc_delta + eps) / xp.sqrt(square_avg + eps) * grad
                acc_delta *= rho
                acc_delta += (1 - rho) * delta * delta
                p.data -= lr * delta
