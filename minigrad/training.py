"""What a training loop calls besides the step itself: the loss log (read back from the
device once per interval, checked for NaN and explosions), the evaluation of a
classifier, and a moving average of the weights. The loop is the user's own
(examples/train_mnist.py has one, a screen long).

``batches`` is any iterable of ``(x, labels)``: ``x`` a Tensor of inputs,
``labels`` integer class labels (a host NumPy array; ``cross_entropy``
checks them there). Losses and counts are summed on the device and read
back once per logging interval (training) or once per call (evaluation):
on a GPU every read-back waits for the device.
"""
import contextlib
import math

from minigrad import backend, distributed
from minigrad import functional as F
from minigrad.autograd import no_grad
from minigrad.backend import get_array_module

__all__ = ["ExponentialMovingAverage", "LossLog", "NonFiniteLoss", "evaluate"]


class NonFiniteLoss(ArithmeticError):
    """The training loss became NaN or infinite, or exploded past a limit."""


class LossLog:
    """The training loss of an epoch. ``add(loss, batch)`` after each step sums the loss
    on the device (weighted by the images it stands for, ``batch.share · batch.count``);
    every ``log_every`` steps the sum comes back to the host, summed over the processes
    when distributed: a NaN or infinite loss, or a mean over the interval above
    ``loss_limit`` (None: no limit), raises :class:`NonFiniteLoss` naming the steps, and
    ``report(step, images so far, mean loss of the interval)`` is called. ``mean()``
    reads back the rest and returns the mean loss per image of the epoch."""

    def __init__(self, optimizer, log_every=50, loss_limit=None, report=None):
        self.optimizer, self.log_every, self.loss_limit = optimizer, log_every, loss_limit
        self.report = report
        self.step = self.images = 0
        self.total = 0.0                         # read back so far (host)
        self.pending, self.pending_images = 0.0, 0  # summed since (on the device)

    def add(self, loss, batch):
        self.step += 1
        self.pending = self.pending + loss.data * (batch.share * batch.count)
        self.pending_images += batch.count
        if self.step % self.log_every == 0:
            self.read_back()

    def read_back(self):
        value = distributed.sum_over_ranks(self.pending.item())
        first, last = self.step - (self.step - 1) % self.log_every, self.step
        where = f"step {last}" if first == last else f"steps {first}-{last}"
        lr = f"learning rate {self.optimizer.param_groups[0]['lr']:.3g}"
        if not math.isfinite(value):
            raise NonFiniteLoss(f"the training loss became non-finite ({value}) in {where} ({lr})")
        mean = value / self.pending_images
        if self.loss_limit is not None and mean > self.loss_limit:
            raise NonFiniteLoss(f"the training loss exploded: its mean over {where} is "
                                f"{mean:.3g}, above the limit of {self.loss_limit:.3g} ({lr})")
        self.total, self.images = self.total + value, self.images + self.pending_images
        if self.report is not None:
            self.report(self.step, self.images, mean)
        self.pending, self.pending_images = 0.0, 0

    def mean(self):
        if self.pending_images:
            self.read_back()
        if not self.images:
            raise ValueError("LossLog: no step was logged (the batches yielded nothing)")
        return self.total / self.images


def evaluate(model, batches):
    """Mean cross-entropy loss and accuracy of ``model`` over ``batches`` (x on the
    model's device), without recording a graph. Returns {"loss", "accuracy", "count"}."""
    was_training = model.training
    model.eval()
    loss_sum = correct = 0.0   # device scalars after the first batch
    count = 0
    with no_grad():
        for x, labels in batches:
            logits = model(x)
            xp = get_array_module(logits.data)
            loss_sum = loss_sum + F.cross_entropy(logits, labels).data * len(labels)
            correct = correct + (logits.data.argmax(axis=1) == xp.asarray(labels)).sum()
            count += len(labels)
    model.train(was_training)
    if not count:
        raise ValueError("evaluate: batches yielded nothing")
    return {"loss": loss_sum.item() / count, "accuracy": int(correct.item()) / count,
            "count": count}


class ExponentialMovingAverage:
    """An exponential moving average of a model's parameters, to evaluate with
    (as ``torch.optim.swa_utils.get_ema_multi_avg_fn``). It starts as the
    parameters, and after every step::

        a ← decay · a + (1 − decay) · p

    so it averages roughly the last 1 / (1 − decay) steps' weights, smoothing
    out the noise of the last steps. ``with average.applied(model):`` puts the
    averages into the model and the trained weights back afterwards.
    """

    def __init__(self, model, decay):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ExponentialMovingAverage: decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.averages = {name: p.data.copy() for name, p in model.named_parameters()}

    def update(self, model):
        for name, p in model.named_parameters():
            average = self.averages[name]
            average *= self.decay
            average += (1 - self.decay) * p.data

    @contextlib.contextmanager
    def applied(self, model):
        """The model with the averaged weights inside the block, its own after."""
        trained = {}
        for name, p in model.named_parameters():
            trained[name], p.data = p.data, self.averages[name].copy()
        try:
            yield model
        finally:
            for name, p in model.named_parameters():
                p.data = trained[name]

    def state_dict(self):
        """The averages as host arrays, named as the model's parameters."""
        return {name: backend.to_device(value, "cpu") for name, value in self.averages.items()}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`'s averages, onto each one's device and dtype."""
        if set(state) != set(self.averages):
            raise ValueError(f"ExponentialMovingAverage.load_state_dict: the state holds "
                             f"{sorted(state)}, the model {sorted(self.averages)}")
        for name, value in state.items():
            mine = self.averages[name]
            if value.shape != mine.shape:
                raise ValueError(f"ExponentialMovingAverage.load_state_dict: {name} has shape "
                                 f"{value.shape}, the model's {mine.shape}")
        for name, value in state.items():
            mine = self.averages[name]
            self.averages[name] = backend.to_device(value.astype(mine.dtype),
                                                    backend.device_of(mine))
