"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: call ``scheduler.step()``
after each ``optimizer.step()``; it counts steps in ``last_epoch`` and sets every
group's ``lr`` for the next one. Each schedule is closed-form, lr = f(last_epoch),
from the groups' ``initial_lr`` (PyTorch steps StepLR and CosineAnnealingLR from the
previous rate instead; alone on an optimizer, the two agree to rounding).
"""
import bisect
import math

from minigrad.checks import check_positive_int
from minigrad.optim.optimizer import Optimizer

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR", "MultiStepLR",
           "OneCycleLR", "ReduceLROnPlateau", "StepLR"]


class LRScheduler:
    """The base: subclasses implement ``get_lr()``, the rates at ``last_epoch``.
    ``last_epoch=-1`` starts a schedule; a later value resumes one (the groups
    must hold ``initial_lr``, as a restored optimizer state does)."""

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                               "when resuming an optimizer")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self):
        raise NotImplementedError

    def step(self):
        """Advance one step and write the new rates into the optimizer."""
        self.last_epoch += 1
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def get_last_lr(self):
        """The rates the last ``step()`` (or the constructor) set, one per group."""
        return list(self._last_lr)

    def state_dict(self):
        """Every attribute but the optimizer."""
        return {key: value for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """lr = initial_lr · gamma ** (last_epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        check_positive_int("StepLR", "step_size", step_size)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = initial_lr · gamma ** (how many milestones last_epoch has reached)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        reached = bisect.bisect_right(self.milestones, self.last_epoch)
        return [base_lr * self.gamma ** reached for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = initial_lr · gamma ** last_epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr = initial_lr · lr_lambda(last_epoch); one function, or one per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.lr_lambdas = per_group("lr_lambda", optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * lr_lambda(self.last_epoch)
                for base_lr, lr_lambda in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self):
        """As the base, without the functions (PyTorch keeps only callable objects' state)."""
        return {key: value for key, value in super().state_dict().items() if key != "lr_lambdas"}


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr − eta_min) · (1 + cos(π · last_epoch / T_max)) / 2."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        check_positive_int("CosineAnnealingLR", "T_max", T_max)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base_lr - self.eta_min) * cosine / 2 for base_lr in self.base_lrs]


def anneal(strategy, start, end, fraction):
    """From ``start`` (fraction 0) to ``end`` (fraction 1): along half a cosine, or a line."""
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
    return (end - start) * fraction + start


def per_group(name, optimizer, value):
    """``value`` for each parameter group: a list or tuple gives one per group."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"expected {len(optimizer.param_groups)} values for {name}, "
                             f"got {len(value)}")
        return list(value)
    return [value] * len(optimizer.param_groups)


class OneCycleLR(LRScheduler):
    """The one-cycle policy (Smith & Topin), with PyTorch's arguments and values.

    The rate rises from max_lr / div_factor to ``max_lr`` over the first ``pct_start``
    of ``total_steps``, then falls to initial_lr / final_div_factor (``three_phase``:
    back to initial_lr first), each phase along ``anneal_strategy``; with
    ``cycle_momentum`` the momentum (or Adam's β₁) moves the opposite way.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("You must define either total_steps OR (epochs AND "
                                 "steps_per_epoch)")
            check_positive_int("OneCycleLR", "epochs", epochs)
            check_positive_int("OneCycleLR", "steps_per_epoch", steps_per_epoch)
            total_steps = epochs * steps_per_epoch
        check_positive_int("OneCycleLR", "total_steps", total_steps)
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError("anneal_strategy must be one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        self.total_steps, self.pct_start, self.three_phase = total_steps, pct_start, three_phase
        self.anneal_strategy, self.cycle_momentum = anneal_strategy, cycle_momentum
        if cycle_momentum and not {"momentum", "betas"} & set(optimizer.defaults):
            raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` "
                             "option enabled")
        if last_epoch == -1:
            groups = zip(optimizer.param_groups, per_group("max_lr", optimizer, max_lr),
                         per_group("max_momentum", optimizer, max_momentum),
                         per_group("base_momentum", optimizer, base_momentum))
            for group, peak, high_momentum, low_momentum in groups:
                group.update(initial_lr=peak / div_factor, max_lr=peak)
                group["min_lr"] = group["initial_lr"] / final_div_factor
                if cycle_momentum:
                    group.update(max_momentum=high_momentum, base_momentum=low_momentum)
                    set_momentum(group, high_momentum)
        super().__init__(optimizer, last_epoch)

    def phases(self):
        """(last step, lr from, lr to, momentum from, momentum to) of each phase,
        the values named by their keys in the parameter group."""
        warm_up_end = float(self.pct_start * self.total_steps) - 1
        if self.three_phase:
            return [(warm_up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                    (float(2 * self.pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                     "base_momentum", "max_momentum"),
                    (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum",
                     "max_momentum")]
        return [(warm_up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times. The specified number of total "
                             f"steps is {self.total_steps}")
        phases = self.phases()
        rates = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for number, (end, lr_from, lr_to, momentum_from, momentum_to) in enumerate(phases):
                if step <= end or number == len(phases) - 1:
                    fraction = (step - start) / (end - start)
                    rates.append(anneal(self.anneal_strategy, group[lr_from], group[lr_to],
                                        fraction))
                    if self.cycle_momentum:
                        set_momentum(group, anneal(self.anneal_strategy, group[momentum_from],
                                                   group[momentum_to], fraction))
                    break
                start = end
        return rates


def set_momentum(group, value):
    """SGD's ``momentum``, or Adam's β₁."""
    if "betas" in group:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


class ReduceLROnPlateau(LRScheduler):
    """Multiply every group's lr by ``factor`` once the metric passed to ``step(metric)``
    has not improved for more than ``patience`` calls, then wait ``cooldown`` calls;
    never below ``min_lr``. Improving means beating the best by ``threshold``, relative
    (best·(1 ∓ threshold)) or absolute (best ∓ threshold), as ``torch.optim``."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        # no LRScheduler.__init__: the rates move with the metric, not with a closed form
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"mode must be 'min' or 'max' and threshold_mode 'rel' or 'abs', "
                             f"got {mode!r} and {threshold_mode!r}")
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown, self.eps = (
            threshold, threshold_mode, cooldown, eps)
        self.min_lrs = per_group("min_lr", optimizer, min_lr)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def is_better(self, value):
        sign = 1 if self.mode == "min" else -1
        if self.threshold_mode == "rel":
            return sign * value < sign * self.best * (1 - sign * self.threshold)
        return sign * value < sign * self.best - self.threshold

    def step(self, metrics):
        value = float(metrics)
        self.last_epoch += 1
        if self.is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
