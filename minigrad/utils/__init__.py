"""``minigrad.utils``: ``minigrad.utils.data``, as ``torch.utils.data``."""
from minigrad.utils import data

__all__ = ["data"]
