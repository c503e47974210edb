"""Module, Parameter and Sequential: the containers layers are built from."""
import numpy as np

from minigrad import backend
from minigrad.tensor import ShapeError, Tensor

__all__ = ["Module", "Parameter", "Sequential"]


class Parameter(Tensor):
    """A tensor a module learns: ``requires_grad`` is on."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter(" + super().__repr__() + ")"


class Module:
    """Base of every layer and network: parameters and sub-modules are its attributes,
    in assignment order, named with dots as in PyTorch (``0.weight``)."""

    training = True

    def forward(self, *inputs):
        raise NotImplementedError

    def __call__(self, *inputs, **named_inputs):
        try:
            return self.forward(*inputs, **named_inputs)
        except ShapeError as error:
            if any(True for _ in self.children()):
                raise  # a container: the layer inside already said who it is
            raise ShapeError(f"{self!r}: {error}") from None

    def children(self):
        """The direct sub-modules."""
        return (value for value in vars(self).values() if isinstance(value, Module))

    def named_parameters(self, prefix=""):
        """(name, Parameter) pairs of this module and every sub-module."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(prefix + name + ".")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, device):
        """Move every parameter (and its gradient) to ``device``; returns self."""
        for p in self.parameters():
            p.data = backend.to_device(p.data, device)
            if p.grad is not None:
                p.grad = backend.to_device(p.grad, device)
        return self

    def state_dict(self):
        """{name: NumPy array}: host copies of every parameter."""
        return {name: p.numpy() for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Copy arrays, tensors or PyTorch tensors into the parameters; names, shapes and
        dtypes must match, and every mismatch is listed in one error before any copy."""
        params = dict(self.named_parameters())
        arrays = {name: _host_array(value) for name, value in state.items()}
        problems = [f"missing {name!r}" for name in params if name not in arrays]
        problems += [f"unexpected {name!r}" for name in arrays if name not in params]
        for name, p in params.items():
            value = arrays.get(name)
            if value is not None and (value.shape != p.shape or value.dtype != p.dtype):
                problems.append(f"{name!r}: expected {p.shape} {p.dtype}, "
                                f"got {value.shape} {value.dtype}")
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        for name, p in params.items():
            p.data = backend.to_device(arrays[name], p.device)

    def extra_repr(self):
        return ""

    def __repr__(self):
        children = [f"  ({name}): " + repr(m).replace("\n", "\n  ")
                    for name, m in vars(self).items() if isinstance(m, Module)]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n" + "\n".join(children) + "\n)"


def _host_array(value):
    """A NumPy copy of an array, a tensor, or a PyTorch tensor (torch is never imported)."""
    if isinstance(value, Tensor):
        value = value.data
    if backend.is_array(value):
        return np.array(backend.to_device(value, "cpu"))
    if hasattr(value, "detach"):  # PyTorch: may require grad or live on a GPU
        value = value.detach().cpu().numpy()
    return np.array(value)


class Sequential(Module):
    """Layers applied one after the other; named '0', '1', ... like PyTorch."""

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def __getitem__(self, i):
        return list(self.children())[i]

    def __len__(self):
        return sum(1 for _ in self.children())

    def forward(self, x):
        for i, layer in enumerate(self.children()):
            try:
                x = layer(x)
            except ShapeError as error:
                raise ShapeError(f"layer {i}, {error}") from None
        return x
