"""PyTorch's device names: ``minigrad.device('cpu' | 'cuda' | 'cuda:0' | 'gpu')``.

minigrad has two devices, the CPU and one GPU per process, and names them 'cpu' and
'gpu'; PyTorch's 'cuda' (with or without an index) is the GPU. A device is a string,
so it works wherever minigrad takes a device name, and equals each of its names.
"""
from minigrad import backend

__all__ = ["device"]


class device(str):  # noqa: N801, lower case as torch.device
    """'cpu' or 'gpu', equal to any of its names: ``device('cuda:0') == 'gpu'``."""

    def __new__(cls, type="cpu", index=None):  # noqa: A002, PyTorch's argument name
        name = backend.validate_device(type)
        made = super().__new__(cls, name)
        if index is None and ":" in str(type):
            index = int(str(type).split(":")[1])
        made.index = index
        return made

    @property
    def type(self):
        """PyTorch's name of the kind: 'cpu' or 'cuda'."""
        return "cpu" if str.__eq__(self, "cpu") else "cuda"

    def __eq__(self, other):
        if not isinstance(other, str):
            return NotImplemented
        try:
            return str.__eq__(self, backend.validate_device(other))
        except ValueError:
            return False

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = str.__hash__

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"
