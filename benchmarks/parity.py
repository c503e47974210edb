"""PyTorch parity sweep: PyTorch's own test inputs through every function and
layer minigrad names, forward and gradients compared in float64.

The inputs are PyTorch's: the ``reference_inputs`` of its OpInfo database
(``torch.testing._internal.common_methods_invocations.op_db``; they include
the ``sample_inputs``) and the module inputs of its ModuleInfo database
(``common_modules.module_db``), all on CPU in float64. Each case runs in
PyTorch and in minigrad with the same arguments; the outputs, then the
gradients of every input that requires one (a random upstream gradient, the
same for both), are compared at rtol = atol = 1e-7 (``torch.testing``'s
float64 tolerances). Each case ends up as one of:

  handled         forward and gradients agree
  disagree        minigrad answers, but differently (values, shapes, dtype, gradient)
  unsupported     minigrad refuses with a clear error: it names the function
                  (or layer) and an argument of it, or the shapes
  unclear error   minigrad fails some other way (a crash, or an error naming
                  neither the function nor an argument)
  missing         minigrad has no such function, method or layer
  out of scope    division rounding modes, ``alpha=``, complex numbers, integer
                  or bool operands (issue 11 leaves them out)
  torch refuses   PyTorch itself fails on the case (not counted)

    PYTHONPATH=. python benchmarks/parity.py [--json PATH] [--only NAME ...]
    PYTHONPATH=. python benchmarks/parity.py --case nn.functional.conv2d:17

``--case NAME:INDEX`` prints one case in full: the call, the inputs, and
both frameworks' outputs and gradients. Needs PyTorch and ``expecttest``
(PyTorch's test data imports it: ``pip install expecttest``). It is a
script, not a test: it takes a few minutes.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter, namedtuple

import numpy as np

import minigrad
import minigrad.functional  # noqa: F401 - older minigrads do not import these themselves
import minigrad.nn  # noqa: F401
from minigrad.fileio import write_bytes

RTOL = ATOL = 1e-7
DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "parity.json")

# One row per PyTorch function: its op_db name and variant, the minigrad
# function that answers it ("F.name" in minigrad.functional or "Tensor.name"
# for an operator), the names an error must mention to count as naming the
# function, and PyTorch's arguments (an error naming one names an argument).
Op = namedtuple("Op", ["torch_name", "variant", "minigrad", "names", "arguments"])

BINARY = ["input", "other", "alpha", "out"]
MAX = ["input", "dim", "keepdim", "other", "out"]  # torch.max's three forms are one function
OPS = [
    Op("add", "", "F.add", ["add"], BINARY),
    Op("__radd__", "", "Tensor.__radd__", ["add", "__radd__"], ["other"]),
    Op("sub", "", "F.sub", ["sub"], BINARY),
    Op("__rsub__", "", "Tensor.__rsub__", ["sub", "__rsub__"], ["other"]),
    Op("mul", "", "F.mul", ["mul"], ["input", "other", "out"]),
    Op("__rmul__", "", "Tensor.__rmul__", ["mul", "__rmul__"], ["other"]),
    Op("div", "no_rounding_mode", "F.div", ["div"], ["input", "other", "rounding_mode", "out"]),
    Op("div", "trunc_rounding", "F.div", ["div"], ["input", "other", "rounding_mode", "out"]),
    Op("div", "floor_rounding", "F.div", ["div"], ["input", "other", "rounding_mode", "out"]),
    Op("__rdiv__", "", "Tensor.__rtruediv__", ["div", "__rtruediv__"], ["other"]),
    Op("neg", "", "F.neg", ["neg"], ["input", "out"]),
    Op("pow", "", "F.pow", ["pow", "power"], ["input", "exponent", "out"]),
    Op("__rpow__", "", "Tensor.__rpow__", ["pow", "power", "__rpow__"], ["other"]),
    Op("exp", "", "F.exp", ["exp"], ["input", "out"]),
    Op("log", "", "F.log", ["log"], ["input", "out"]),
    Op("nn.functional.relu", "", "F.relu", ["relu", "rectifier"], ["input", "inplace"]),
    Op("maximum", "", "F.maximum", ["maximum"], ["input", "other", "out"]),
    Op("minimum", "", "F.minimum", ["minimum"], ["input", "other", "out"]),
    Op("clamp", "", "F.clamp", ["clamp"], ["input", "min", "max", "out"]),
    Op("sum", "", "F.sum", ["sum"], ["input", "dim", "keepdim", "dtype", "out"]),
    Op("mean", "", "F.mean", ["mean"], ["input", "dim", "keepdim", "dtype", "out"]),
    Op("amax", "", "F.amax", ["amax"], ["input", "dim", "keepdim", "out"]),
    Op("max", "reduction_no_dim", "F.max", ["max"], MAX),
    Op("max", "reduction_with_dim", "F.max", ["max"], MAX),
    Op("max", "binary", "F.max", ["max"], MAX),
    Op("reshape", "", "F.reshape", ["reshape"], ["input", "shape"]),
    Op("transpose", "", "F.transpose", ["transpose"], ["input", "dim0", "dim1"]),
    Op("permute", "", "F.permute", ["permute"], ["input", "dims"]),
    Op("flatten", "", "F.flatten", ["flatten"], ["input", "start_dim", "end_dim"]),
    Op("matmul", "", "F.matmul", ["matmul"], ["input", "other", "out"]),
    Op("__rmatmul__", "", "Tensor.__rmatmul__", ["matmul", "__rmatmul__"], ["other"]),
    Op("nn.functional.linear", "", "F.linear", ["linear"], ["input", "weight", "bias"]),
    Op("nn.functional.conv2d", "", "F.conv2d", ["conv2d"],
       ["input", "weight", "bias", "stride", "padding", "dilation", "groups"]),
    Op("nn.functional.unfold", "", "F.unfold", ["unfold"],
       ["input", "kernel_size", "dilation", "padding", "stride"]),
    Op("nn.functional.max_pool2d", "", "F.max_pool2d", ["max_pool2d"],
       ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"]),
    Op("nn.functional.avg_pool2d", "", "F.avg_pool2d", ["avg_pool2d"],
       ["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
        "divisor_override"]),
    Op("nn.functional.adaptive_max_pool2d", "", "F.adaptive_max_pool2d", ["adaptive_max_pool2d"],
       ["input", "output_size", "return_indices"]),
    Op("nn.functional.adaptive_avg_pool2d", "", "F.adaptive_avg_pool2d", ["adaptive_avg_pool2d"],
       ["input", "output_size"]),
    Op("log_softmax", "", "F.log_softmax", ["log_softmax"], ["input", "dim", "dtype"]),
    Op("log_softmax", "with_dtype", "F.log_softmax", ["log_softmax"], ["input", "dim", "dtype"]),
    Op("nn.functional.cross_entropy", "", "F.cross_entropy", ["cross_entropy"],
       ["input", "target", "weight", "size_average", "ignore_index", "reduce", "reduction",
        "label_smoothing"]),
    Op("nn.functional.nll_loss", "", "F.nll_loss", ["nll_loss"],
       ["input", "target", "weight", "size_average", "ignore_index", "reduce", "reduction"]),
    Op("nn.functional.binary_cross_entropy_with_logits", "", "F.binary_cross_entropy_with_logits",
       ["binary_cross_entropy_with_logits"],
       ["input", "target", "weight", "size_average", "reduce", "reduction", "pos_weight"]),
    # the PyTorch face (issue 22)
    Op("sigmoid", "", "F.sigmoid", ["sigmoid"], ["input", "out"]),
    Op("tanh", "", "F.tanh", ["tanh"], ["input", "out"]),
    Op("abs", "", "F.abs", ["abs"], ["input", "out"]),
    Op("softmax", "", "F.softmax", ["softmax"], ["input", "dim", "dtype"]),
    Op("where", "", "Tensor.where", ["where"], ["condition", "input", "other"]),
    Op("cat", "", "F.cat", ["cat"], ["tensors", "dim", "out"]),
    Op("stack", "", "F.stack", ["stack"], ["tensors", "dim", "out"]),
    Op("unsqueeze", "", "F.unsqueeze", ["unsqueeze"], ["input", "dim"]),
    Op("squeeze", "", "F.squeeze", ["squeeze"], ["input", "dim"]),
    Op("squeeze", "multiple", "F.squeeze", ["squeeze"], ["input", "dim"]),
    Op("expand", "", "Tensor.expand", ["expand"], ["size"]),
    Op("view", "", "Tensor.view", ["view", "reshape"], ["size", "shape"]),
    Op("view_as", "", "Tensor.view_as", ["view_as", "reshape"], ["other"]),
    Op("clone", "", "Tensor.clone", ["clone"], ["memory_format"]),
    Op("argmax", "", "F.argmax", ["argmax"], ["input", "dim", "keepdim"]),
    Op("argmin", "", "F.argmin", ["argmin"], ["input", "dim", "keepdim"]),
    Op("eq", "", "Tensor.eq", ["eq", "comparison"], ["other"]),
    Op("ne", "", "Tensor.ne", ["ne", "comparison"], ["other"]),
    Op("lt", "", "Tensor.lt", ["lt", "comparison"], ["other"]),
    Op("le", "", "Tensor.le", ["le", "comparison"], ["other"]),
    Op("gt", "", "Tensor.gt", ["gt", "comparison"], ["other"]),
    Op("ge", "", "Tensor.ge", ["ge", "comparison"], ["other"]),
    Op("min", "reduction_no_dim", "F.min", ["min"], MAX),
    Op("min", "reduction_with_dim", "F.min", ["min"], MAX),
    Op("min", "binary", "F.min", ["min"], MAX),
    Op("amin", "", "F.amin", ["amin"], ["input", "dim", "keepdim", "out"]),
    Op("sqrt", "", "F.sqrt", ["sqrt", "pow", "power"], ["input", "out"]),
    Op("var", "", "F.var", ["var"], ["input", "dim", "unbiased", "keepdim", "correction", "out"]),
    Op("std", "", "F.std", ["std"], ["input", "dim", "unbiased", "keepdim", "correction", "out"]),
    Op("nn.functional.batch_norm", "", "F.batch_norm", ["batch_norm"],
       ["input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"]),
    Op("nn.functional.mse_loss", "", "F.mse_loss", ["mse_loss"],
       ["input", "target", "size_average", "reduce", "reduction", "weight"]),
    Op("nn.functional.l1_loss", "", "F.l1_loss", ["l1_loss"],
       ["input", "target", "size_average", "reduce", "reduction", "weight"]),
    Op("nn.functional.binary_cross_entropy", "", "F.binary_cross_entropy",
       ["binary_cross_entropy"], ["input", "target", "weight", "size_average", "reduce",
                                  "reduction"]),
]

# Layers: the module_db name, the minigrad.nn class, PyTorch's constructor arguments.
Layer = namedtuple("Layer", ["torch_name", "minigrad", "arguments"])
LAYERS = [
    Layer("nn.Conv2d", "Conv2d", ["in_channels", "out_channels", "kernel_size", "stride",
                                  "padding", "dilation", "groups", "bias", "padding_mode"]),
    Layer("nn.Linear", "Linear", ["in_features", "out_features", "bias"]),
    Layer("nn.ReLU", "ReLU", ["inplace"]),
    Layer("nn.MaxPool2d", "MaxPool2d", ["kernel_size", "stride", "padding", "dilation",
                                        "return_indices", "ceil_mode"]),
    Layer("nn.AvgPool2d", "AvgPool2d", ["kernel_size", "stride", "padding", "ceil_mode",
                                        "count_include_pad", "divisor_override"]),
    Layer("nn.AdaptiveMaxPool2d", "AdaptiveMaxPool2d", ["output_size", "return_indices"]),
    Layer("nn.AdaptiveAvgPool2d", "AdaptiveAvgPool2d", ["output_size"]),
    Layer("nn.BatchNorm1d", "BatchNorm1d", ["num_features", "eps", "momentum", "affine",
                                            "track_running_stats"]),
    Layer("nn.BatchNorm2d", "BatchNorm2d", ["num_features", "eps", "momentum", "affine",
                                            "track_running_stats"]),
    Layer("nn.Sigmoid", "Sigmoid", []),
    Layer("nn.Tanh", "Tanh", []),
    Layer("nn.Softmax", "Softmax", ["dim"]),
    Layer("nn.LogSoftmax", "LogSoftmax", ["dim"]),
    Layer("nn.CrossEntropyLoss", "CrossEntropyLoss", ["weight", "ignore_index", "reduction",
                                                      "label_smoothing"]),
    Layer("nn.NLLLoss", "NLLLoss", ["weight", "ignore_index", "reduction"]),
    Layer("nn.MSELoss", "MSELoss", ["reduction"]),
    Layer("nn.L1Loss", "L1Loss", ["reduction"]),
    Layer("nn.BCELoss", "BCELoss", ["weight", "reduction"]),
    Layer("nn.BCEWithLogitsLoss", "BCEWithLogitsLoss", ["weight", "reduction", "pos_weight"]),
]

STATUSES = ["handled", "disagree", "unsupported", "unclear error", "missing", "out of scope",
            "torch refuses"]
CLEAR_ERRORS = (TypeError, ValueError, IndexError, NotImplementedError, RuntimeError)


class Disagreement(Exception):
    """minigrad answered, but not as PyTorch did."""


# ----- PyTorch's inputs ----------------------------------------------------------------------

def import_torch_databases():
    """torch, op_db and module_db; exits with the install hint if PyTorch's test data cannot load."""
    try:
        import torch
        from torch.testing._internal.common_methods_invocations import op_db
        from torch.testing._internal.common_modules import module_db
    except ImportError as error:
        sys.exit(f"parity.py: cannot load PyTorch's test inputs ({error}); it needs torch and "
                 "expecttest: pip install torch expecttest")
    return torch, op_db, module_db


def op_cases(torch, info):
    """The reference inputs of an OpInfo (float64, CPU, requiring grad where PyTorch's
    tests do), or its sample inputs where the reference generator cannot make grads;
    as (input, args, kwargs) with every tensor a fresh leaf (see ``fresh_leaves``)."""
    torch.manual_seed(0)
    try:
        samples = list(info.reference_inputs("cpu", torch.float64, requires_grad=True))
    except ValueError:  # e.g. clamp's reference inputs make integer tensors
        torch.manual_seed(0)
        samples = list(info.sample_inputs("cpu", torch.float64, requires_grad=True))
    return [fresh_leaves(torch, (s.input, s.args, s.kwargs)) for s in samples]


def fresh_leaves(torch, value, made=None):
    """``value`` with each tensor replaced by a leaf on the same memory (same strides)
    that requires grad as the original does. Some reference inputs are views whose
    graph does not reach back to them; a fresh leaf makes every gradient well defined."""
    made = {} if made is None else made
    if isinstance(value, torch.Tensor):
        if id(value) not in made:
            wants_grad = value.requires_grad and value.is_floating_point()
            made[id(value)] = value.detach().requires_grad_(wants_grad)
        return made[id(value)]
    if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
        return type(value)(fresh_leaves(torch, v, made) for v in value)
    if isinstance(value, dict):
        return {k: fresh_leaves(torch, v, made) for k, v in value.items()}
    return value


def layer_cases(torch, info):
    torch.manual_seed(0)
    return info.module_inputs_func(info, device="cpu", dtype=torch.float64, requires_grad=True,
                                   training=True)


# ----- moving a case into minigrad -----------------------------------------------------------

class Converter:
    """Turns PyTorch arguments into minigrad ones: each torch tensor becomes a minigrad
    Tensor with the same values, dtype and requires_grad (the same tensor twice stays
    one Tensor), everything else passes as it is. Records the (torch, minigrad) pairs
    of the floating tensors that require grad: the leaves whose gradients are compared."""

    def __init__(self, torch, minigrad):
        self.torch, self.minigrad = torch, minigrad
        self.made, self.leaves = {}, []

    def __call__(self, value):
        if isinstance(value, self.torch.Tensor):
            if id(value) not in self.made:
                array = host_copy(value)
                made = self.minigrad.Tensor(array, requires_grad=value.requires_grad,
                                            dtype=array.dtype)
                self.made[id(value)] = made
                if value.requires_grad and value.is_floating_point():
                    self.leaves.append((value, made))
            return self.made[id(value)]
        if isinstance(value, self.torch.Size):
            return tuple(value)
        if isinstance(value, self.torch.dtype):   # torch.float64 -> numpy.float64
            return np.dtype(str(value).removeprefix("torch."))
        if isinstance(value, (list, tuple)):
            return type(value)(self(v) for v in value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        return value


def host_copy(value):
    """A NumPy copy of a torch tensor; non-contiguous stays non-contiguous (every other
    element of a buffer twice as wide), so minigrad sees the layout PyTorch's case meant."""
    array = np.array(value.detach().numpy())
    if value.is_contiguous() or array.ndim == 0:
        return array
    wide = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
    wide[..., ::2] = array
    return wide[..., ::2]


def tensors_in(value, torch):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from tensors_in(v, torch)
    elif isinstance(value, dict):
        for v in value.values():
            yield from tensors_in(v, torch)


def out_of_scope(op, args, kwargs, torch):
    """Why issue 11 leaves this case out, or None."""
    if op.variant in ("trunc_rounding", "floor_rounding") or kwargs.get("rounding_mode"):
        return "division rounding mode"
    if "alpha" in kwargs:
        return "alpha="
    values = [*args, *kwargs.values()]
    if any(isinstance(v, complex) for v in values):
        return "complex number"
    for i, t in enumerate(tensors_in(values, torch)):
        if t.is_complex():
            return "complex tensor"
        is_target = op.names[0] in ("cross_entropy", "nll_loss") and i == 1
        is_condition = op.names[0] == "where" and t.dtype == torch.bool
        if not t.is_floating_point() and not is_target and not is_condition:
            return "integer or bool operand"
    return None


# ----- running and comparing -----------------------------------------------------------------

def outputs_of(result):
    """A result (tensor, tuple, namedtuple, number) as a flat list."""
    if isinstance(result, (list, tuple)):
        return [item for part in result for item in outputs_of(part)]
    return [result]


def as_array(value):
    if hasattr(value, "detach"):  # torch
        return value.detach().numpy()
    if hasattr(value, "numpy"):   # minigrad
        return value.numpy()
    return np.asarray(value)


def compare(what, ours, theirs):
    """Raise Disagreement unless ``ours`` matches PyTorch's ``theirs``."""
    ours, theirs = as_array(ours), as_array(theirs)
    if ours.shape != theirs.shape:
        raise Disagreement(f"{what}: shape {ours.shape}, PyTorch {theirs.shape}")
    if theirs.dtype.kind == "f" and ours.dtype != theirs.dtype:
        raise Disagreement(f"{what}: dtype {ours.dtype}, PyTorch {theirs.dtype}")
    if theirs.dtype.kind != "f":
        if not np.array_equal(ours, theirs):
            raise Disagreement(f"{what}: {ours.ravel()[:8]}..., PyTorch {theirs.ravel()[:8]}...")
        return
    if not np.allclose(ours, theirs, rtol=RTOL, atol=ATOL, equal_nan=True):
        with np.errstate(invalid="ignore"):
            gap = np.nanmax(np.abs(ours - theirs)) if ours.size else 0.0
        raise Disagreement(f"{what}: largest difference {gap:.3g}")


def upstream_gradients(torch, outputs, seed):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(o.shape, generator=generator, dtype=o.dtype) for o in outputs]


def run_case(torch, minigrad, torch_call, minigrad_call, torch_leaves, seed):
    """Compare one case. ``torch_call()`` gives PyTorch's result; ``minigrad_call(convert)``
    gives minigrad's, converting arguments with ``convert``; ``torch_leaves`` are extra
    torch tensors whose gradients count (a layer's parameters, paired up by the call).
    Returns (status, detail)."""
    try:
        result = torch_call()
        if result is NotImplemented:  # e.g. Tensor.__rsub__ called on a Python number
            return "torch refuses", "NotImplemented"
        theirs = outputs_of(result)
        differentiable = [o for o in theirs if isinstance(o, torch.Tensor) and o.requires_grad]
        seeds = upstream_gradients(torch, differentiable, seed)
    except Exception as error:  # noqa: BLE001 - PyTorch refusing is recorded, not fatal
        return "torch refuses", f"{type(error).__name__}: {error}"
    convert = Converter(torch, minigrad)
    try:
        ours = outputs_of(minigrad_call(convert))
    except Disagreement as error:
        return "disagree", str(error)
    except Exception as error:  # noqa: BLE001 - every failure is classified
        return "error", error
    pairs = convert.leaves + torch_leaves(convert)
    try:
        if len(ours) != len(theirs):
            raise Disagreement(f"{len(ours)} outputs, PyTorch {len(theirs)}")
        for i, (mine, other) in enumerate(zip(ours, theirs)):
            compare(f"output {i}", mine, other)
        if not differentiable or not pairs:
            return "handled", ""
        leaves = [t for t, _ in pairs]
        grads = torch.autograd.grad(differentiable, leaves, seeds, allow_unused=True)
        backward_ours(ours, theirs, differentiable, seeds)
        for i, ((leaf, mine), grad) in enumerate(zip(pairs, grads)):
            theirs_grad = torch.zeros_like(leaf) if grad is None else grad
            ours_grad = np.zeros(mine.shape) if mine.grad is None else as_array(mine.grad)
            compare(f"gradient of input {i}", np.asarray(ours_grad), theirs_grad)
    except Disagreement as error:
        return "disagree", str(error)
    except Exception as error:  # noqa: BLE001 - a crash in backward is an unclear error
        return "unclear error", f"backward: {type(error).__name__}: {error}"
    return "handled", ""


def backward_ours(ours, theirs, differentiable, seeds):
    """Backward through minigrad's outputs that match PyTorch's differentiable ones."""
    positions = [next(i for i, o in enumerate(theirs) if o is d) for d in differentiable]
    for k, (position, seed) in enumerate(zip(positions, seeds)):
        out = ours[position]
        if not getattr(out, "requires_grad", False):
            raise Disagreement(f"output {position} does not require grad")
        if k + 1 < len(seeds):  # another output still needs the graph
            out.backward(np.array(seed.numpy()), retain_graph=True)
        else:
            out.backward(np.array(seed.numpy()))


def classify_error(error, names, arguments):
    """'unsupported' when the error names the function and an argument (or the shapes)."""
    text = str(error).lower()
    names_function = any(name.lower() in text for name in names)
    names_argument = "shape" in text or any(f"{a.lower()}" in text for a in arguments)
    if isinstance(error, CLEAR_ERRORS) and names_function and names_argument:
        return "unsupported"
    return "unclear error"


def minigrad_function(minigrad, spec):
    """The minigrad callable for "F.name" or "Tensor.name", or None."""
    family, name = spec.split(".", 1)
    if family == "F":
        return getattr(minigrad.functional, name, None)
    method = getattr(minigrad.Tensor, name, None)
    return None if method is None else (lambda x, *args, **kwargs: method(x, *args, **kwargs))


def call_text(name, args, kwargs):
    """A short description of a call: tensors as dtype[shape] (nc: non-contiguous)."""
    def describe(v):
        if hasattr(v, "shape") and hasattr(v, "dtype") and hasattr(v, "is_contiguous"):
            flag = "" if v.is_contiguous() else " nc"
            return f"{str(v.dtype).replace('torch.', '')}{list(v.shape)}{flag}"
        if isinstance(v, (list, tuple)):
            return type(v)(describe(x) for x in v).__repr__()
        return repr(v)
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})".replace("'", "")


# ----- the sweep -----------------------------------------------------------------------------

def sweep_op(torch, minigrad, info, op, show=None):
    fn = minigrad_function(minigrad, op.minigrad)
    results = []
    for index, (first, rest, kwargs) in enumerate(op_cases(torch, info)):
        if show is not None and index != show:
            continue
        args = (first, *rest)
        call = call_text(op.minigrad, args, kwargs)
        reason = out_of_scope(op, args, kwargs, torch)
        if reason:
            results.append((index, "out of scope", reason, call))
            continue
        if fn is None:
            results.append((index, "missing", f"minigrad has no {op.minigrad}", call))
            continue

        def ours(convert):
            return fn(*convert(args), **convert(kwargs))
        status, detail = run_case(torch, minigrad, lambda: info(*args, **kwargs), ours,
                                  lambda convert: [], seed=index)
        if status == "error":
            status, detail = classify_error(detail, op.names, op.arguments), error_text(detail)
        results.append((index, status, detail, call))
        if show is not None:
            print_case(torch, minigrad, call, status, detail, args, kwargs,
                       lambda: info(*args, **kwargs), ours)
    return results


def sweep_layer(torch, minigrad, info, layer, show=None):
    cls = getattr(minigrad.nn, layer.minigrad, None)
    results = []
    for index, case in enumerate(layer_cases(torch, info)):
        if show is not None and index != show:
            continue
        build = case.constructor_input
        feed_args, feed_kwargs = fresh_leaves(torch, (case.forward_input.args,
                                                      case.forward_input.kwargs))
        call = (call_text(layer.minigrad, build.args, build.kwargs) +
                call_text("", feed_args, feed_kwargs))
        if cls is None:
            results.append((index, "missing", f"minigrad.nn has no {layer.minigrad}", call))
            continue
        torch_layer = info.module_cls(*build.args, **build.kwargs).to(torch.float64)
        made = {}

        def ours(convert):
            made["layer"] = cls(*convert(build.args), **convert(build.kwargs))
            copy_parameters(torch_layer, made["layer"])
            return made["layer"](*convert(feed_args), **convert(feed_kwargs))

        def parameter_pairs(convert):
            mine = dict(made["layer"].named_parameters())
            return [(p, mine[name]) for name, p in torch_layer.named_parameters()]
        status, detail = run_case(torch, minigrad, lambda: torch_layer(*feed_args, **feed_kwargs),
                                  ours, parameter_pairs, seed=index)
        if status == "error":
            status, detail = classify_error(detail, [layer.minigrad], layer.arguments + ["input"]), \
                error_text(detail)
        results.append((index, status, detail, call))
    return results


def copy_parameters(torch_layer, layer):
    """PyTorch's float64 parameters into the minigrad layer (same names, same values)."""
    theirs = dict(torch_layer.named_parameters())
    mine = dict(layer.named_parameters())
    if sorted(theirs) != sorted(mine):
        raise Disagreement(f"parameters {sorted(mine)}, PyTorch {sorted(theirs)}")
    for name, p in mine.items():
        p.data = np.array(theirs[name].detach().numpy())


def error_text(error):
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def print_case(torch, minigrad, call, status, detail, args, kwargs, torch_call, ours):
    """--case: everything about one case."""
    np.set_printoptions(precision=17, threshold=200)
    print(f"call: {call}\nstatus: {status}\ndetail: {detail}\n")
    for i, t in enumerate(tensors_in([args, kwargs], torch)):
        print(f"tensor {i} ({t.dtype}, shape {list(t.shape)}, stride {t.stride()}):\n"
              f"{t.detach().numpy()!r}\n")
    print(f"PyTorch: {torch_call()!r}")
    try:
        print(f"minigrad: {ours(Converter(torch, minigrad))!r}")
    except Exception as error:  # noqa: BLE001 - shown as it is
        print(f"minigrad raised {error_text(error)}")


def summarize(results):
    counts = Counter(status for _, status, _, _ in results)
    return {status: counts.get(status, 0) for status in STATUSES}


def run_sweep(torch, op_db, module_db, minigrad, only):
    """{row name: {"counts", "cases"}} over OPS and LAYERS (``only``: names to keep)."""
    infos = {(info.name, info.variant_test_name): info for info in op_db}
    modules = {info.name: info for info in module_db}
    rows = {}
    for op in OPS:
        name = op.torch_name + (f" ({op.variant})" if op.variant else "")
        if only and op.torch_name not in only and name not in only:
            continue
        rows[name] = sweep_op(torch, minigrad, infos[(op.torch_name, op.variant)], op)
    for layer in LAYERS:
        if only and layer.torch_name not in only:
            continue
        rows[layer.torch_name] = sweep_layer(torch, minigrad, modules[layer.torch_name], layer)
    return rows


def report(rows):
    """Print the markdown table of counts per row (as docs/parity.md shows it) and the
    totals; returns the totals."""
    header = ["PyTorch function", "cases"] + STATUSES
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    totals = Counter()
    for name, results in rows.items():
        counts = summarize(results)
        totals.update(counts)
        cells = [f"`{name}`", str(len(results))] + [str(counts[s]) for s in STATUSES]
        print("| " + " | ".join(cells) + " |")
    totals = {s: totals.get(s, 0) for s in STATUSES}
    counted = sum(totals.values()) - totals["out of scope"] - totals["torch refuses"]
    print(f"| **total** | {sum(totals.values()):,} | " +
          " | ".join(f"{totals[s]:,}" for s in STATUSES) + " |")
    print(f"\nIn scope: {counted:,} cases; handled {totals['handled']:,}, disagree "
          f"{totals['disagree']:,}, unsupported (clear error) {totals['unsupported']:,}, "
          f"unclear error {totals['unclear error']:,}, missing {totals['missing']:,}.")
    return dict(totals, in_scope=counted)


def as_json(rows, totals, torch, minigrad, seconds):
    functions = {}
    for name, results in rows.items():
        messages = {}
        for _, status, detail, call in results:
            if status == "unsupported":
                messages.setdefault(detail, {"cases": 0, "example": call})["cases"] += 1
        scope = Counter(detail for _, status, detail, _ in results if status == "out of scope")
        functions[name] = {
            "cases": len(results), "counts": summarize(results),
            "unsupported_errors": messages,
            "out_of_scope": dict(scope.most_common()),
            "problems": [{"case": index, "status": status, "detail": detail, "call": call}
                         for index, status, detail, call in results
                         if status in ("disagree", "unclear error", "missing")],
        }
    return {
        "what": "PyTorch's OpInfo reference inputs and ModuleInfo inputs through minigrad, "
                "float64 CPU, forward and gradients at rtol=atol=1e-7",
        "command": "python " + " ".join(sys.argv),
        "torch": torch.__version__, "minigrad_commit": commit_of(minigrad),
        "seconds": round(seconds, 1), "totals": totals, "functions": functions,
    }


def commit_of(minigrad):
    """The git commit of the minigrad that ran, '+' if its files differ from it."""
    folder = os.path.dirname(os.path.abspath(minigrad.__file__))
    def git(*args):
        done = subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+" if git("status", "--porcelain", "--", ".") else "")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=DEFAULT_JSON, help="where to write the results")
    parser.add_argument("--only", nargs="*", help="op_db / module_db names to run")
    parser.add_argument("--case", help="NAME:INDEX, e.g. nn.functional.conv2d:17 — show one case")
    options = parser.parse_args(argv)
    torch, op_db, module_db = import_torch_databases()
    print(f"minigrad {commit_of(minigrad)} from {os.path.dirname(minigrad.__file__)}, "
          f"torch {torch.__version__}")
    if options.case:
        with np.errstate(all="ignore"):
            return show_case(torch, op_db, module_db, minigrad, options.case)
    start = time.perf_counter()
    with np.errstate(all="ignore"):  # inf and NaN inputs are part of PyTorch's cases
        rows = run_sweep(torch, op_db, module_db, minigrad, options.only)
    totals = report(rows)
    payload = as_json(rows, totals, torch, minigrad, time.perf_counter() - start)
    os.makedirs(os.path.dirname(os.path.abspath(options.json)), exist_ok=True)
    write_bytes(options.json, (json.dumps(payload, indent=2) + "\n").encode())
    print(f"wrote {options.json}")
    return 0


def show_case(torch, op_db, module_db, minigrad, case):
    name, index = case.rsplit(":", 1)
    for op in OPS:
        if name in (op.torch_name, f"{op.torch_name} ({op.variant})"):
            info = next(i for i in op_db if (i.name, i.variant_test_name) ==
                        (op.torch_name, op.variant))
            sweep_op(torch, minigrad, info, op, show=int(index))
            return 0
    for layer in LAYERS:
        if name == layer.torch_name:
            info = next(i for i in module_db if i.name == name)
            for _, status, detail, call in sweep_layer(torch, minigrad, info, layer,
                                                       show=int(index)):
                print(f"call: {call}\nstatus: {status}\ndetail: {detail}")
            return 0
    sys.exit(f"parity.py: --case {case!r}: no such function; names: "
             + ", ".join(op.torch_name for op in OPS))


if __name__ == "__main__":
    sys.exit(main())
