"""Module, Parameter, Buffer and the containers layers are built from."""
import numpy as np

from minigrad import backend
from minigrad.autograd import ShapeError
from minigrad.tensor import Tensor

__all__ = ["Buffer", "Module", "ModuleDict", "ModuleList", "Parameter", "Sequential"]


class Parameter(Tensor):
    """A tensor a module learns: ``requires_grad`` is on."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter(" + super().__repr__() + ")"


class Buffer(Tensor):
    """A tensor a module keeps but does not learn (batch norm's running statistics): in the
    state dict, moved by ``to``, never given to an optimizer, as ``torch.nn.Buffer``."""

    def __init__(self, data):
        super().__init__(data)

    def __repr__(self):
        return "Buffer(" + super().__repr__() + ")"


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

    def named_children(self):
        """(name, module) pairs of the direct sub-modules."""
        return ((name, value) for name, value in vars(self).items() if isinstance(value, Module))

    def children(self):
        """The direct sub-modules."""
        return (value for _, value in self.named_children())

    def named_modules(self, prefix=""):
        """(name, module) pairs of this module ('') and every sub-module, depth first."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (module for _, module in self.named_modules())

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module, then on this one (as PyTorch); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def _named_tensors(self, kind, prefix=""):
        """(name, tensor) pairs of ``kind`` (Parameter or Buffer) here and below."""
        for name, value in vars(self).items():
            if isinstance(value, kind):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value._named_tensors(kind, prefix + name + ".")

    def named_parameters(self, prefix=""):
        """(name, Parameter) pairs of this module and every sub-module."""
        return self._named_tensors(Parameter, prefix)

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def register_buffer(self, name, tensor):
        """Keep ``tensor`` as the buffer ``name`` (a state the optimizer does not touch)."""
        setattr(self, name, Buffer(tensor))

    def named_buffers(self, prefix=""):
        return self._named_tensors(Buffer, prefix)

    def buffers(self):
        return [b for _, b in self.named_buffers()]

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
        """Move every parameter (and its gradient) and buffer to ``device``; returns self."""
        for p in self.parameters() + self.buffers():
            p.data = backend.to_device(p.data, device)
            if p.grad is not None:
                p.grad = backend.to_device(p.grad, device)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("gpu")

    def double(self):
        """Every floating parameter and buffer as float64 (gradients dropped); returns self."""
        return self._cast(np.float64)

    def float(self):
        """Every floating parameter and buffer as float32 (gradients dropped); returns self."""
        return self._cast(np.float32)

    def _cast(self, dtype):
        for _, p in self._named_state():
            if p.dtype.kind == "f":
                p.data, p.grad = p.data.astype(dtype), None
        return self

    def _named_state(self):
        """Parameters and buffers, in the order they were assigned, as PyTorch's keys."""
        return self._named_tensors((Parameter, Buffer))

    def state_dict(self):
        """{name: NumPy array}: host copies of every parameter and buffer."""
        return {name: p.numpy() for name, p in self._named_state()}

    def load_state_dict(self, state, strict=True):
        """Copy arrays, tensors or PyTorch tensors into the parameters and buffers; names
        (unless not ``strict``), shapes and dtypes must match, and every mismatch is listed
        in one error before any copy."""
        if not hasattr(state, "items"):
            raise TypeError(f"load_state_dict into {type(self).__name__}: expected a state dict "
                            f"{{name: array or tensor}}, got {type(state).__name__}")
        params = dict(self._named_state())
        arrays = {name: _host_array(value) for name, value in state.items()}
        if not strict:
            arrays = {name: value for name, value in arrays.items() if name in params}
            params = {name: p for name, p in params.items() if name in arrays}
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


class ModuleList(Module):
    """A list of modules, registered as '0', '1', …, as ``torch.nn.ModuleList``."""

    def __init__(self, modules=()):
        for module in modules:
            self.append(module)

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: item {len(self)} is a {type(module).__name__}, "
                            "not a Module")
        setattr(self, str(len(self)), module)
        return self

    def __getitem__(self, i):
        return list(self.children())[i]

    def __len__(self):
        return sum(1 for _ in self.children())

    def __iter__(self):
        return iter(list(self.children()))


class ModuleDict(Module):
    """Modules by name, as ``torch.nn.ModuleDict``."""

    def __init__(self, modules=None):
        for name, module in dict(modules or {}).items():
            self[name] = module

    def __setitem__(self, name, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: {name!r} is a {type(module).__name__}, not a Module")
        setattr(self, name, module)

    def __getitem__(self, name):
        return dict(self.named_children())[name]

    def __contains__(self, name):
        return name in dict(self.named_children())

    def __len__(self):
        return sum(1 for _ in self.children())

    def __iter__(self):
        return iter(dict(self.named_children()))

    def keys(self):
        return dict(self.named_children()).keys()

    def values(self):
        return dict(self.named_children()).values()

    def items(self):
        return dict(self.named_children()).items()
