"""The optimizer base: holds parameters and per-parameter state."""
import numpy as np

from minigrad import backend

__all__ = ["Optimizer"]


class Optimizer:
    """Updates ``params`` from their ``.grad``. Subclasses name their state
    buffers in ``buffer_names`` and implement ``step``."""

    buffer_names = ()

    def __init__(self, params, **hyper):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        self.hyper = hyper
        self.steps = [0] * len(self.params)
        self.buffers = {name: [None] * len(self.params) for name in self.buffer_names}

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def state_dict(self):
        """Flat {key: NumPy array}: hyper-parameters, step counts and buffers
        (``exp_avg.0``, ...), ready for an ``.npz`` file."""
        state = {f"hyper.{k}": np.asarray(v) for k, v in self.hyper.items()}
        state["steps"] = np.asarray(self.steps, dtype=np.int64)
        for name, arrays in self.buffers.items():
            for i, array in enumerate(arrays):
                if array is not None:
                    state[f"{name}.{i}"] = backend.to_device(array, "cpu").copy()
        return state

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (buffers go to each parameter's device)."""
        steps = np.asarray(state["steps"])
        if steps.shape != (len(self.params),):
            raise ValueError(f"{type(self).__name__}.load_state_dict: state is for "
                             f"{steps.shape[0]} parameters, this optimizer has {len(self.params)}")
        for key in self.hyper:
            value = np.asarray(state[f"hyper.{key}"])
            self.hyper[key] = tuple(value.tolist()) if value.ndim else value.item()
        self.steps = [int(s) for s in steps]
        for name, arrays in self.buffers.items():
            for i, p in enumerate(self.params):
                saved = state.get(f"{name}.{i}")
                if saved is not None and saved.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: {name}.{i} has "
                                     f"shape {saved.shape}, parameter has {p.shape}")
                arrays[i] = None if saved is None else backend.to_device(
                    np.array(saved, dtype=p.dtype), p.device)

    def step(self):
        raise NotImplementedError
