"""Write your own op, check its gradient, and see what a wrong one looks like.

    python examples/custom_op.py

1. ``Softplus``, a new op class: y = log(1 + eˣ), dy/dx = sigmoid(x), both
   computed without overflow for any x.
2. ``avg_pool2x2``, a new function built from existing ops (unfold, reshape,
   mean): no backward to write at all.
3. Both checked by ``gradcheck`` and by a short hypothesis property test.
4. The same op with a deliberately wrong backward: the readable failure from
   ``gradcheck``, and the shrunk counterexample from the property test.

Runs in a few seconds on the CPU; exits 0 when the right op passes and the
wrong one is caught.
"""
import sys

import numpy as np
from hypothesis import given, settings

import minigrad
import minigrad.functional as F
from minigrad.autograd import Function
from minigrad.backend import get_array_module
from minigrad.testing import gradcheck
from minigrad.testing.strategies import arrays, shapes

# ----- 1. a new op class ---------------------------------------------------------------------

class Softplus(Function):
    """y = log(1 + eˣ).   dy/dx = eˣ / (1 + eˣ) = sigmoid(x).

    Stable for any x: log(1 + eˣ) = max(x, 0) + log(1 + e^−|x|), and e^−|x|
    never overflows. ``forward`` and ``backward`` see raw arrays (NumPy or
    CuPy); ``get_array_module`` says which, so the op runs on both devices.
    """

    def forward(self, x):
        xp = get_array_module(x)
        small = xp.exp(-xp.abs(x))                  # e^−|x| ∈ (0, 1]
        if self.needs_grad[0]:                      # save only what backward needs
            self.sigmoid = xp.where(x >= 0, 1 / (1 + small), small / (1 + small))
        return xp.maximum(x, 0) + xp.log1p(small)

    def backward(self, grad_out):
        return (grad_out * self.sigmoid,)           # one gradient per input, x's shape


def softplus(x):
    """The function users call: wraps the op so it records itself on the tape."""
    return Softplus.apply(x)


# ----- 2. a new function made of existing ops ------------------------------------------------

def avg_pool2x2(x):
    """2×2 average pooling, stride 2, built on unfold: (N, C, H, W) → (N, C, H//2, W//2)."""
    n, c, h, w = x.shape
    oh, ow = h // 2, w // 2
    cols = F.unfold(x, kernel_size=2, stride=2)     # (N, C·4, OH·OW), 4 = one window
    return cols.reshape(n, c, 4, oh * ow).mean(dim=2).reshape(n, c, oh, ow)


# ----- 3. gradcheck and a property test ------------------------------------------------------

@settings(max_examples=20, deadline=None, database=None)
@given(x=arrays(shapes(max_dims=3, max_side=4), low=-30.0, high=30.0))
def test_softplus_gradient(x):
    assert gradcheck(softplus, x)


# ----- 4. the same op with a wrong backward --------------------------------------------------

class SoftplusWrongBackward(Softplus):
    """A slip that is easy to make: sigmoid(−x) instead of sigmoid(x)."""

    def backward(self, grad_out):
        return (grad_out * (1 - self.sigmoid),)


def softplus_wrong(x):
    return SoftplusWrongBackward.apply(x)


@settings(max_examples=20, deadline=None, database=None)
@given(x=arrays(shapes(max_dims=3, max_side=4), low=-30.0, high=30.0))
def test_softplus_wrong_gradient(x):
    assert gradcheck(softplus_wrong, x)


def main():
    rng = np.random.default_rng(0)

    print("1. softplus is stable: softplus([-1000, 0, 1000]) =",
          softplus(minigrad.tensor([-1000.0, 0.0, 1000.0])).numpy())

    x = rng.uniform(-5, 5, size=(3, 4))
    print("2. gradcheck(softplus, x):", gradcheck(softplus, x))
    image = rng.standard_normal((2, 3, 5, 6))
    print("   gradcheck(avg_pool2x2, image):", gradcheck(avg_pool2x2, image))
    weight = rng.standard_normal((4, 3, 3, 3))
    print("   gradcheck of softplus(conv2d(x, w)) for both inputs:",
          gradcheck(lambda x, w: softplus(F.conv2d(x, w, padding=1)), image, weight))
    test_softplus_gradient()
    print("3. property test test_softplus_gradient: 20 examples passed")

    caught = 0
    print("\n4. the wrong backward, through gradcheck:")
    try:
        gradcheck(softplus_wrong, x)
    except AssertionError as error:
        caught += 1
        print(error)

    print("\n   ... and through the property test (hypothesis shrinks the failure):")
    try:
        test_softplus_wrong_gradient()
    except AssertionError as error:
        caught += 1
        for note in getattr(error, "__notes__", []):  # the falsifying example
            print(note)
        print(f"{type(error).__name__}: {error}")

    if caught != 2:
        print("the wrong backward was NOT caught", file=sys.stderr)
        return 1
    print("\nthe right op passes, the wrong one is caught: all good")
    return 0


if __name__ == "__main__":
    sys.exit(main())
