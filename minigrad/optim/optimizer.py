"""The optimizer base, as in PyTorch: ``param_groups`` (dicts of ``'params'`` and their
hyper-parameters, read afresh every step) and ``state[p]``, kept between steps."""
import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

__all__ = ["Optimizer", "check_non_negative", "gradient_with_decay"]


def check_non_negative(values):
    """PyTorch's check of hyper-parameters: ``values`` ({description: value}) all ≥ 0."""
    for description, value in values.items():
        if not 0.0 <= value:
            raise ValueError(f"Invalid {description}: {value}")


def gradient_with_decay(p, weight_decay):
    """g = grad + weight_decay·p, the gradient of the loss plus (weight_decay/2)·‖p‖²."""
    return p.grad if weight_decay == 0 else p.grad + weight_decay * p.data


class Optimizer:
    """Updates parameters from their ``.grad``; ``params`` holds tensors or group dicts,
    ``defaults`` fills in what a group leaves out. Subclasses implement ``step`` and name
    in ``state_fields`` what a parameter's state must hold once it has one."""

    state_fields = ()

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

    def params_with_grad(self, group):
        """The parameters of ``group`` that backward reached (the others are not stepped)."""
        return (p for p in group["params"] if p.grad is not None)

    def zero_grad(self, set_to_none=True):
        """Forget every parameter's gradient: ``p.grad = None``, or zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self):
        raise NotImplementedError

    # The state dict is flat, {name: NumPy array}, for an .npz file; names follow PyTorch's
    # nesting, parameters numbered in group order: 'param_groups.0.lr', 'state.3.exp_avg'.

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
        """Restore what :meth:`state_dict` returned, onto each parameter's device and
        dtype; everything is checked first, so a state that does not fit changes nothing."""
        where = f"{type(self).__name__}.load_state_dict"
        params = [p for group in self.param_groups for p in group["params"]]
        for g, group in enumerate(self.param_groups):
            saved = len(state_dict.get(f"param_groups.{g}.params", ()))
            if saved != len(group["params"]):
                raise ValueError(f"{where}: parameter group {g} has {saved} parameters in the "
                                 f"state, {len(group['params'])} here")
        tables = {"param_groups": [{} for _ in self.param_groups], "state": [{} for _ in params]}
        for key, value in state_dict.items():
            kind, number, field = (key.split(".", 2) + ["", ""])[:3]
            if kind not in tables or not number.isdigit() or int(number) >= len(tables[kind]):
                raise ValueError(f"{where}: unexpected key {key!r} (this optimizer has "
                                 f"{len(self.param_groups)} groups, {len(params)} parameters)")
            value = np.asarray(value)
            if kind == "state" and field != "step" and value.shape != params[int(number)].shape:
                raise ValueError(f"{where}: {key} has shape {value.shape}, parameter {number} "
                                 f"has shape {params[int(number)].shape}")
            tables[kind][int(number)][field] = value
        for number, saved in enumerate(tables["state"]):
            missing = [field for field in self.state_fields if saved and field not in saved]
            if missing:
                raise ValueError(f"{where}: the state of parameter {number} lacks "
                                 f"{', '.join(missing)} (it holds {', '.join(sorted(saved))})")
        for group, saved in zip(self.param_groups, tables["param_groups"]):
            for field, value in saved.items():
                if field != "params":
                    group[field] = value.item() if value.ndim == 0 else tuple(value.tolist())
        self.state = {}
        for p, saved in zip(params, tables["state"]):
            if saved:
                self.state[p] = {field: int(value) if field == "step" else
                                 backend.to_device(value.astype(p.dtype), p.device)
                                 for field, value in saved.items()}
