"""The training loop and the evaluation of a classifier, as a PyTorch user writes them.

``batches`` is any iterable of ``(x, labels)``: ``x`` a Tensor of inputs,
``labels`` integer class labels (a host NumPy array; ``cross_entropy``
checks them there). Losses and counts are summed on the device and read
back once per logging interval (training) or once per call (evaluation):
on a GPU every read-back waits for the device.

Under :mod:`minigrad.distributed` (after ``distributed.init()``), every
process receives the same global batches, trains on its part of each and
averages the gradients with the others before the step; on its own, a
process takes every batch whole and those calls do nothing.
"""
import contextlib
import math

from minigrad import backend, distributed
from minigrad import functional as F
from minigrad.autograd import no_grad
from minigrad.backend import get_array_module

__all__ = ["ExponentialMovingAverage", "NonFiniteLoss", "evaluate", "train_one_epoch"]


class NonFiniteLoss(ArithmeticError):
    """The training loss became NaN or infinite, or exploded past a limit."""


def train_one_epoch(model, optimizer, batches, scheduler, device, log_every=50, log=None,
                    loss_limit=None, label_smoothing=0.0, average=None):
    """One pass over ``batches``: per batch, x moves to ``device``, then forward,
    cross-entropy loss (with ``label_smoothing``), backward, ``optimizer.step()``,
    ``scheduler.step()`` (``scheduler`` may be None) and ``average.update(model)``
    (an :class:`ExponentialMovingAverage`, or None). Returns the mean loss per example.

    Every ``log_every`` steps and after the last one, the loss summed since the
    previous read-back comes back to the host: a NaN or infinite loss, or a
    mean loss over the interval above ``loss_limit`` (None: no limit), raises
    :class:`NonFiniteLoss`, and ``log(step, examples, loss)`` is called with the
    steps and examples done so far and the mean loss of the interval.
    """
    model.train()
    total, examples = 0.0, 0                 # read back so far (host)
    pending, pending_examples = 0.0, 0       # summed since (on the device)
    step = 0
    for step, (x, labels) in enumerate(batches, start=1):
        part = distributed.batch_part(len(labels))  # the whole batch in one process
        loss = F.cross_entropy(model(x[part.rows].to(device)), labels[part.rows],
                               label_smoothing=label_smoothing)
        optimizer.zero_grad()
        loss.backward()
        distributed.all_reduce_gradients(model, part.share)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if average is not None:
            average.update(model)
        pending = pending + loss.data * (part.share * len(labels))
        pending_examples += len(labels)
        if step % log_every == 0:
            interval = read_back(pending, pending_examples, (step - log_every + 1, step),
                                 optimizer, loss_limit)
            total, examples = total + interval, examples + pending_examples
            if log is not None:
                log(step, examples, interval / pending_examples)
            pending, pending_examples = 0.0, 0
    if pending_examples:
        interval = read_back(pending, pending_examples, (step - step % log_every + 1, step),
                             optimizer, loss_limit)
        total, examples = total + interval, examples + pending_examples
        if log is not None:
            log(step, examples, interval / pending_examples)
    if not examples:
        raise ValueError("train_one_epoch: batches yielded nothing")
    return total / examples


def read_back(loss_sum, count, steps, optimizer, loss_limit=None):
    """``loss_sum`` of the ``count`` examples of ``steps`` (first, last) as a host
    float (one device sync), summed over the processes when distributed;
    NonFiniteLoss if it is NaN or infinite, or if its mean exceeds ``loss_limit``."""
    value = distributed.sum_over_ranks(loss_sum.item())
    first, last = steps
    where = f"step {last}" if first == last else f"steps {first}-{last}"
    lr = f"learning rate {optimizer.param_groups[0]['lr']:.3g}"
    if not math.isfinite(value):
        raise NonFiniteLoss(f"the training loss became non-finite ({value}) in {where} ({lr})")
    if loss_limit is not None and value / count > loss_limit:
        raise NonFiniteLoss(f"the training loss exploded: its mean over {where} is "
                            f"{value / count:.3g}, above the limit of {loss_limit:.3g} ({lr})")
    return value


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
