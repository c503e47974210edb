"""The two networks of the assignment, as ``nn.Sequential`` so that parameter
names match the equivalent PyTorch model (``0.weight``, ..., ``10.bias``)."""
from minigrad import nn

__all__ = ["fixed_res_cnn", "var_res_cnn"]


def _conv_blocks(last_channels):
    """3 × [Conv 3×3 pad 1 → ReLU → MaxPool 2] with 16, 32, last_channels channels."""
    return [
        nn.Conv2d(1, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, last_channels, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
    ]


def fixed_res_cnn():
    """28×28 inputs: the blocks, flatten 64·3·3 = 576 → Linear 10. 29,066 parameters."""
    return nn.Sequential(*_conv_blocks(64), nn.Flatten(), nn.Linear(576, 10))


def var_res_cnn(last_channels=81, pooling="max"):
    """Any input ≥ 8×8: the blocks with ``last_channels`` channels at the end, global
    max or mean pooling, Linear last_channels → 10. 4,810 + 299·last_channels
    parameters: 29,029 for 81."""
    pools = {"max": nn.GlobalMaxPool2d, "mean": nn.GlobalAvgPool2d}
    if pooling not in pools:
        raise ValueError(f"var_res_cnn: pooling must be 'max' or 'mean', got {pooling!r}")
    return nn.Sequential(*_conv_blocks(last_channels), pools[pooling](),
                         nn.Linear(last_channels, 10))
