"""The optimizer base: parameter groups and per-parameter state, as in PyTorch.

``optimizer.param_groups`` is a list of dicts, each holding ``'params'`` (a
list of tensors) and the hyper-parameters that apply to them (``'lr'``, ...).
A learning-rate scheduler changes ``group['lr']`` between steps; ``step``
reads it afresh every time. ``optimizer.state[p]`` holds what the algorithm
keeps for parameter ``p`` between steps (Adam's moving averages, ...).
"""
import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Updates parameters from their ``.grad``. ``params`` is an iterable of
    tensors, or of dicts ``{'params': [...], 'lr': ...}`` (one per group);
    ``defaults`` fills in what a group leaves out. Subclasses implement ``step``."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = {}          # parameter -> {'step': ..., buffers ...}
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add ``{'params': [...], hyper-parameter: value, ...}`` as a new group."""
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params "
                                f"is {type(p).__name__}")
        taken = {id(p) for group in self.param_groups for p in group["params"]}
        if len({id(p) for p in params}) < len(params) or taken & {id(p) for p in params}:
            raise ValueError("some parameters appear more than once in the parameter groups")
        self.param_groups.append({**self.defaults, **param_group, "params": params})

    def zero_grad(self):
        """Forget every parameter's gradient (``p.grad = None``)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self):
        raise NotImplementedError

    # ----- saving and restoring ------------------------------------------------------------
    #
    # The state dict is flat, {name: NumPy array}, so that minigrad.save can store it in an
    # .npz file. Its names follow PyTorch's nested layout, with parameters numbered in
    # group order: 'param_groups.0.lr', 'param_groups.0.params' (the numbers of the group's
    # parameters), 'state.3.step', 'state.3.exp_avg', ...

    def state_dict(self):
        """Every group's hyper-parameters and every parameter's state, as host arrays."""
        state, number = {}, 0
        for g, group in enumerate(self.param_groups):
            for key, value in group.items():
                if key != "params":
                    state[f"param_groups.{g}.{key}"] = np.asarray(value)
            numbers = list(range(number, number + len(group["params"])))
            state[f"param_groups.{g}.params"] = np.asarray(numbers, dtype=np.int64)
            for i, p in zip(numbers, group["params"]):
                for key, value in self.state.get(p, {}).items():
                    state[f"state.{i}.{key}"] = np.array(backend.to_device(value, "cpu")
                                                          if backend.is_array(value) else value)
            number += len(group["params"])
        return state

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned: hyper-parameters, step counts and
        buffers (moved to each parameter's device and dtype). Everything is checked
        first, so a state that does not fit changes nothing."""
        groups, states = self._parse(state_dict)
        params = [p for group in self.param_groups for p in group["params"]]
        for g, fields in groups.items():
            for field, value in fields.items():
                if field != "params":
                    self.param_groups[g][field] = value.item() if value.ndim == 0 else tuple(
                        value.tolist())
        self.state = {}
        for i, fields in states.items():
            p = params[i]
            self.state[p] = {field: int(value) if field == "step" else
                             backend.to_device(value.astype(p.dtype), p.device)
                             for field, value in fields.items()}

    def _parse(self, state_dict):
        """({group number: {field: array}}, {parameter number: {field: array}}), checked
        against this optimizer's groups and parameters."""
        where = f"{type(self).__name__}.load_state_dict"
        params = [p for group in self.param_groups for p in group["params"]]
        parsed = {"param_groups": {}, "state": {}}
        for key, value in state_dict.items():
            parts = key.split(".", 2)
            if len(parts) != 3 or parts[0] not in parsed or not parts[1].isdigit():
                raise ValueError(f"{where}: unexpected key {key!r}")
            parsed[parts[0]].setdefault(int(parts[1]), {})[parts[2]] = np.asarray(value)
        groups, states = parsed["param_groups"], parsed["state"]
        if sorted(groups) != list(range(len(self.param_groups))):
            raise ValueError(f"{where}: the state has {len(groups)} parameter groups, this "
                             f"optimizer has {len(self.param_groups)}")
        for g, group in enumerate(self.param_groups):
            if "params" not in groups[g]:
                raise ValueError(f"{where}: missing 'param_groups.{g}.params'")
            if len(groups[g]["params"]) != len(group["params"]):
                raise ValueError(f"{where}: parameter group {g} has {len(groups[g]['params'])} "
                                 f"parameters in the state, {len(group['params'])} here")
        for i, fields in states.items():
            if i >= len(params):
                raise ValueError(f"{where}: the state is for parameter {i}, this optimizer "
                                 f"has {len(params)}")
            for field, value in fields.items():
                if field != "step" and value.shape != params[i].shape:
                    raise ValueError(f"{where}: state.{i}.{field} has shape {value.shape}, "
                                     f"parameter {i} has shape {params[i].shape}")
        return groups, states
