"""The exercises: which engine ops each one is about, and what the student derives.

An :class:`Exercise` has one :class:`Part` per Function the student writes a
backward for (most have one). A part names the engine's Function (the
reference solution: the stub subclasses it and keeps its forward), the math
to derive, what forward leaves on ``self`` for backward, and what backward
returns. The property tests that judge an exercise are
``checks.PROPERTIES[name]``.
"""
from dataclasses import dataclass

from minigrad.ops.conv import Convolution
from minigrad.ops.elementwise import Add, Mul, Rectifier
from minigrad.ops.linalg import MatMul
from minigrad.ops.loss import LogSoftmax, NegativeLogLikelihood
from minigrad.ops.pool import MaxPooling
from minigrad.ops.reduce import Mean, Sum

__all__ = ["EXERCISES", "Exercise", "Part"]


@dataclass(frozen=True)
class Part:
    engine: type           # the engine's Function: the stub's base class
    derive: str            # the math to derive, for the backward's docstring
    saved: dict            # attribute → what forward saved there
    returns: str           # what backward returns


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    parts: tuple           # the Functions whose backward the student writes, in order
    intro: str = ""        # for the stub's header: how the parts make the op
    imports: tuple = ()    # extra import lines the stub offers
    helpers: str = ""      # extra functions the student writes (conv2d's fold)


BROADCASTING = """\
a and b broadcast against each other as in NumPy: a of shape (3, 1) and b of
shape (4,) give y of shape (3, 4); a size-1 or missing axis is copied along
the output."""

FOLD = '''

def fold(cols, shape, window):
    """Columns (K, L·N) back to images of ``shape`` (N, C, H, W), overlapping entries summed.

    unfold's adjoint. Row (c, i, j) of ``cols`` (channel, then kernel row, then
    kernel column), column (r·OW + s)·N + n (output row and column, then image) hold
    the pixel that kernel tap (i, j) reads at output position (r, s) of image n:
    padded pixel (r·sh + i, s·sw + j), the image padded by ph rows and pw columns
    of zeros on each side.

    window.kernel = (KH, KW), window.stride = (sh, sw), window.padding = (ph, pw),
    window.out_size = (OH, OW) (the checks use window.dilation = (1, 1)).
    A plan: a zero image with the padding, one strided slice per kernel tap
    (i, j), the tap's entries put into it, the padding cropped at the end.
    Windows overlap: what must happen where two of them cover the same pixel?
    """
    xp = get_array_module(cols)
    # TODO: write fold
    raise NotImplementedError("TODO: write fold (exercise conv2d)")
'''

EXERCISES = {exercise.name: exercise for exercise in [
    Exercise(
        name="add", title="broadcasting add: y = a + b, the gradient summed back to each shape",
        parts=(Part(
            engine=Add,
            derive=f"""y = a + b.

{BROADCASTING}

Derive, with grad_out = dL/dy (shaped like y):
    dL/da: dy/da = 1, but every element of a may have been copied into several
           elements of y. What does the gradient of a copied value add up to?
    dL/db: the same question for b.
Each gradient must come back in its input's shape.""",
            saved={"a_shape": "a's shape", "b_shape": "b's shape"},
            returns="(grad_a, grad_b)"),),
        imports=("from minigrad.autograd import unbroadcast  # unbroadcast(grad, shape): "
                 "sums grad over broadcast axes",)),
    Exercise(
        name="mul", title="broadcasting mul: y = a * b, the gradient summed back to each shape",
        parts=(Part(
            engine=Mul,
            derive=f"""y = a * b (elementwise).

{BROADCASTING}

Derive, with grad_out = dL/dy (shaped like y):
    dL/da = grad_out · (dy/da), then back to a's shape. What is dy/da?
    dL/db = the same for b.""",
            saved={"a": "the input a", "b": "the input b"},
            returns="(grad_a, grad_b)"),),
        imports=("from minigrad.autograd import unbroadcast  # unbroadcast(grad, shape): "
                 "sums grad over broadcast axes",)),
    Exercise(
        name="matmul", title="matrix product: Y = A @ B, batched over leading axes",
        parts=(Part(
            engine=MatMul,
            derive="""Y = A @ B, A (..., n, k) and B (..., k, m): Y[i, j] = Σ_p A[i, p] B[p, j].
Leading (batch) axes broadcast as in NumPy (the checks give A and B two axes or more).

Derive, with grad_out = dY (..., n, m):
    dA (..., n, k): which product of dY and B has this shape? Check one entry:
                    dL/dA[i, p] = Σ_j dY[i, j] · B[p, j].
    dB (..., k, m): the same question.
A batch axis that was broadcast must be summed back to the input's shape.
(x.swapaxes(-1, -2) swaps the last two axes of an array.)""",
            saved={"a": "the input A", "b": "the input B"},
            returns="(grad_a, grad_b)"),),
        imports=("from minigrad.autograd import unbroadcast  # unbroadcast(grad, shape): "
                 "sums grad over broadcast axes",)),
    Exercise(
        name="sum", title="sum over dims: y = Σ x, the gradient copied back",
        parts=(Part(
            engine=Sum,
            derive="""y = Σ x over some dims (all of them, one, or several; keepdim=True keeps
them as size 1).

Derive, with grad_out = dL/dy (shaped like y):
    dL/dx (shaped like x): how much does y change when one element of x does?
    grad_out lost the summed dims (unless keepdim): put them back as size-1
    dims, then spread it over x's shape (xp.broadcast_to).""",
            saved={"x_shape": "x's shape", "dims": "the summed dims, a sorted tuple of ints ≥ 0"},
            returns="(grad_x,)"),)),
    Exercise(
        name="mean", title="mean over dims: y = (1/n) Σ x",
        parts=(Part(
            engine=Mean,
            derive="""y = (1/n) Σ x over some dims, n = the number of elements averaged into each
output (the product of the sizes of those dims).

Derive, with grad_out = dL/dy (shaped like y):
    dL/dx (shaped like x): as for sum, and what does the 1/n do?""",
            saved={"x_shape": "x's shape", "dims": "the averaged dims, a sorted tuple of ints ≥ 0",
               "count": "n"},
            returns="(grad_x,)"),)),
    Exercise(
        name="relu", title="ReLU: y = max(x, 0)",
        parts=(Part(
            engine=Rectifier,
            derive="""y = max(x, 0), elementwise.

Derive, with grad_out = dL/dy:
    dL/dx = grad_out · dy/dx. What is dy/dx where x > 0, and where x < 0?
(At x = 0 there is no derivative; take 0 there, as PyTorch does.)""",
            saved={"passes": "a boolean array, True where y > 0: where the gradient passes"},
            returns="(grad_x,)"),)),
    Exercise(
        name="max_pool2d", title="max-pool 2×2: the gradient to each window's (first) maximum",
        parts=(Part(
            engine=MaxPooling,
            derive="""y = the maximum of x over each 2×2 window (stride 2: windows side by side;
stride 1: windows overlap). x (N, C, H, W) → y (N, C, OH, OW).

Derive, with grad_out = dL/dy (N, C, OH, OW):
    dL/dx (N, C, H, W): only the window's maximum changes y, so it alone gets
    the gradient; every other entry gets 0. Two questions:
    - a tie: which maximum? (PyTorch's rule: the first, in row-major order)
    - overlapping windows may share their maximum: what does it receive then?
Tap (i, j) of every window at once is one strided slice of x, shaped like y:
    x[:, :, i:i + sh·(OH − 1) + 1:sh, j:j + sw·(OW − 1) + 1:sw]""",
            saved={"x_shape": "x's shape",
                   "window": "the window: window.kernel = (2, 2), window.stride = "
                             "(sh, sw), window.out_size = (OH, OW)",
                   "winner": "for every output, the tap k = 2·i + j of its window that "
                             "holds the (first) maximum"},
            returns="(grad_x,)"),)),
    Exercise(
        name="cross_entropy",
        title="cross-entropy: log-softmax, then the negative log-likelihood",
        intro="""cross_entropy(x, t) for logits x (N, C) and labels t (N,) is three steps, as
minigrad computes it:
    log_p  = LogSoftmax(x)                     (N, C) log-probabilities
    losses = NegativeLogLikelihood(log_p, q)   (N,)   −Σ_c q[n, c] · log_p[n, c]
    loss   = Σ losses / N                      minigrad's own sum and division
with q = onehot(t). You write the backward of the first two.""",
        parts=(Part(
            engine=LogSoftmax,
            derive="""y = x − log Σⱼ exp xⱼ along dim (along each row of x, here).

Derive, with grad_out = dL/dy (shaped like y):
    dL/dxᵢ = Σₖ grad_outₖ · ∂yₖ/∂xᵢ. What is ∂yₖ/∂xᵢ, for k = i and for k ≠ i?
    (It involves softmax(x)ᵢ = exp yᵢ.)""",
            saved={"y": "the output, log softmax(x)", "dim": "the dim it runs along"},
            returns="(grad_x,)"),
            Part(
            engine=NegativeLogLikelihood,
            derive="""losses = −Σ_c q_c · log_p_c along dim (one loss per row, here).

Derive, with grad_out = dL/dlosses (one number per row):
    dL/dlog_p (shaped like log_p): what is ∂losses/∂log_p_c? Then the chain rule
    with grad_out. The mean's 1/N reaches you through grad_out.
    dL/dq: q is the constant one-hot target here, and needs no gradient
    (self.needs_grad[1] is False): return None for it.""",
            saved={"q": "the target distribution: one-hot rows (N, C) here",
                   "dim": "the class dim (1 here)"},
            returns="(grad_log_probs, None)")),
    ),
    Exercise(
        name="conv2d", title="conv2d's backward: dW, db, dU and fold",
        parts=(Part(
            engine=Convolution,
            derive="""Forward (shown at the bottom of this file), for x (N, C, H, W),
weight (O, C, KH, KW) and bias (O,):
    U  = unfold(x)      (K, L·N)   K = C·KH·KW numbers in one patch, L = OH·OW;
                                   column (l, n): the patch of image n at position l
    Y' = W' U           (O, L·N)   W' = the weight as an (O, K) matrix
    Y  = Y' as (O, OH, OW, N), seen as (N, O, OH, OW), plus bias[o] on channel o

Derive, with grad_out = dY (N, O, OH, OW), as dY' (O, L·N) (dY moved to (O, OH, OW, N)):
    dW' (O, K):     Y' = W'U is one matrix product. Which product of dY' and U
                    has the shape of W'? (Check it on one entry.)
    db  (O,):       bias[o] was added to L·N outputs.
    dU  (K, L·N):   the other factor of the same product.
    dX  = fold(dU): every entry of U is a copy of one pixel of x (or of the zero
                    padding); write fold below and use it.
Stuck? docs/derivation.md derives all four.""",
            saved={"cols": "U, as (G, K/G, L·N): G = 1 in the checks, so self.cols[0] is U",
               "weight_matrix": "W', as (G, O/G, K/G): self.weight_matrix[0] is W' (O, K)",
               "weight_shape": "the weight's shape (O, C, KH, KW)",
               "image_shape": "x's shape without the batch axis, (C, H, W)",
               "window": "the window geometry, for fold"},
            returns="(grad_x, grad_weight, grad_bias)"),),
        helpers=FOLD),
]}
