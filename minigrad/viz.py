"""Pictures of the tape: the recorded graph as Graphviz DOT text, and drawings.

The graph drawn is the one ``backward()`` walks. A tensor made by an op
remembers that op (``tensor.grad_fn``, a Function); the Function remembers
where each input came from (``fn.parents[i]``: the Function that made it, the
leaf tensor itself, or None when the input needs no gradient) and the input
shapes (``fn.input_shapes``). :func:`to_dot` follows those links from a tensor
back to the leaves and writes one box per op, labelled with the op's name and
its math (the first line of its docstring), one box per leaf tensor with its
shape, dtype and, once backward has run, its gradient, and one arrow per input
in the direction data flows, labelled with the input's name and shape.

``backward()`` frees the graph as it goes, so draw before it, or keep the
graph with ``loss.backward(retain_graph=True)``::

    loss = F.cross_entropy(model(images), labels)
    loss.backward(retain_graph=True)
    viz.draw(loss, "step.svg", params=dict(model.named_parameters()))

``params`` names tensors (any {name: tensor} dict). Named with dots, as
``named_parameters`` does (``3.weight``), the parameters of one module and the
ops that use them are boxed together, so a whole training step stays legible.
"""
import inspect
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np

from minigrad import backend
from minigrad.autograd import Function, topological_order
from minigrad.fileio import write_bytes
from minigrad.tensor import Tensor

__all__ = ["draw", "to_dot"]

FORMATS = {".svg": "svg", ".png": "png"}
INSTALL_COMMANDS = "apt-get install graphviz, brew install graphviz or conda install graphviz"

OP_STYLE = 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"'
LEAF_STYLE = 'shape=box, style=filled, fillcolor="#d9f0d3"'
OUTPUT_STYLE = 'shape=box, style=filled, fillcolor="#fde0c5"'
CONSTANT_STYLE = "shape=plaintext, fontcolor=gray35"


def to_dot(tensor, params=None):
    """The graph recorded up to ``tensor``, as Graphviz DOT text.

    ``params`` is an optional {name: tensor} dict, e.g.
    ``dict(model.named_parameters())``, naming the tensors drawn.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(tensor).__name__}")
    names = _names(params)
    lines = ["digraph minigrad {",
             '  graph [fontname="DejaVu Sans", fontsize=11];',
             '  node [fontname="DejaVu Sans", fontsize=11];',
             '  edge [fontname="DejaVu Sans", fontsize=9];']
    if tensor.grad_fn is None:  # a leaf: a graph of one node
        lines.append(f"  out [{LEAF_STYLE}, label={_quote(_tensor_lines(tensor, names))}];")
        return "\n".join(lines + ["}"]) + "\n"
    nodes = _graph_order(tensor.grad_fn)
    ids = {id(node): f"n{i}" for i, node in enumerate(nodes)}
    lines += _node_lines(nodes, ids, names)
    lines += _edge_lines(nodes, ids)
    lines.append(f"  out [{OUTPUT_STYLE}, label={_quote(_tensor_lines(tensor, names))}];")
    last_op = ids[id(tensor.grad_fn)]
    lines.append(f"  {last_op} -> out [label={_quote([_shape_text(tensor.shape)])}];")
    return "\n".join(lines + ["}"]) + "\n"


def draw(tensor, path, params=None):
    """Draw the graph recorded up to ``tensor`` into ``path``; return the path written.

    ``.svg`` and ``.png`` are drawn by Graphviz's ``dot`` program; ``.dot``
    writes the DOT text. Without ``dot`` installed, the DOT text is written
    next to ``path`` (same name, ``.dot``) with a warning saying how to install it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS and suffix != ".dot":
        raise ValueError(f"draw: cannot tell the picture format from {str(path)!r}; "
                         "name a .svg, .png or .dot file")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"draw: the folder {str(path.parent)!r} does not exist")
    source = to_dot(tensor, params).encode("utf-8")
    program = shutil.which("dot")
    if suffix == ".dot" or program is None:
        dot_path = path.with_suffix(".dot")
        write_bytes(dot_path, source)
        if suffix != ".dot":
            warnings.warn(f"draw: Graphviz's `dot` program is not installed, so {str(path)!r} "
                          f"was not drawn; the graph's DOT text is in {str(dot_path)!r}. Install "
                          f"Graphviz ({INSTALL_COMMANDS}), then draw again or run "
                          f"`dot -T{FORMATS[suffix]} {dot_path} -o {path}`.", stacklevel=2)
        return dot_path
    result = subprocess.run([program, "-T" + FORMATS[suffix]], input=source,
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"draw: Graphviz's dot failed on the graph for {str(path)!r}: "
                           + result.stderr.decode("utf-8", "replace").strip())
    write_bytes(path, result.stdout)
    return path


def _names(params):
    """{id(tensor): name} from a {name: tensor} dict."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise TypeError("to_dot: params must be a dict {name: tensor}, e.g. "
                        f"dict(model.named_parameters()); got {type(params).__name__}")
    for name, value in params.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"to_dot: params[{name!r}] is a {type(value).__name__}, not a Tensor")
    return {id(value): str(name) for name, value in params.items()}


def _graph_order(root):
    """Every Function and leaf tensor ``root`` depends on, each after its inputs:
    backward's own walk (``topological_order``), read in data-flow order."""
    try:
        return topological_order(root)
    except RuntimeError:
        raise RuntimeError(
            "to_dot: this graph was released by an earlier backward(); run the forward "
            "pass again and call backward(retain_graph=True) to keep the graph for drawing"
        ) from None


def _modules(nodes, names):
    """{id(node): module name}: a named parameter 'a.b.weight' belongs to module 'a.b',
    and so does an op whose named inputs all belong to that one module."""
    modules = {}
    for node in nodes:
        if isinstance(node, Tensor) and "." in names.get(id(node), ""):
            modules[id(node)] = names[id(node)].rsplit(".", 1)[0]
    for node in nodes:
        if isinstance(node, Function):
            owners = {modules.get(id(p)) for p in node.parents
                      if isinstance(p, Tensor) and id(p) in names}
            if len(owners) == 1 and None not in owners:
                modules[id(node)] = owners.pop()
    return modules


def _node_lines(nodes, ids, names):
    """One line per node; the nodes of each module inside a DOT cluster."""
    modules = _modules(nodes, names)
    clusters = {None: []}  # module name → its nodes; None: nodes of no module
    for node in nodes:
        clusters.setdefault(modules.get(id(node)), []).append(node)
    lines = ["  " + _node_line(ids[id(node)], node, names) for node in clusters.pop(None)]
    for number, (module, members) in enumerate(clusters.items()):
        lines.append(f"  subgraph cluster_{number} {{")
        lines.append(f'    label={_quote(["module " + module])}; style=rounded; color=gray60;')
        lines += ["    " + _node_line(ids[id(node)], node, names) for node in members]
        lines.append("  }")
    return lines


def _node_line(node_id, node, names):
    if isinstance(node, Tensor):
        return f"{node_id} [{LEAF_STYLE}, label={_quote(_tensor_lines(node, names))}];"
    return f"{node_id} [{OP_STYLE}, label={_quote(_op_lines(node))}];"


def _op_lines(fn):
    """The op's name, then its math: the docstring's first line, one formula a line."""
    doc = type(fn).__doc__ or ""
    math = doc.strip().splitlines()[0] if doc.strip() else ""
    return [type(fn).__name__] + [part for part in re.split(r"\s{3,}", math) if part]


def _tensor_lines(leaf, names):
    """Name (if given), shape and dtype, value (one element), gradient (leaves, once there)."""
    lines = [names[id(leaf)]] if id(leaf) in names else []
    lines.append(_shape_text(leaf.shape) + " " + str(leaf.dtype))
    if leaf.numel() == 1:
        lines.append(f"value {leaf.item():.4g}")
    if leaf.grad is not None:
        grad = np.asarray(backend.to_device(leaf.grad, "cpu"), dtype=np.float64)
        if grad.size == 1:
            lines.append(f"grad {grad.item():.4g}")
        else:
            lines.append(f"grad {_shape_text(grad.shape)}, norm {np.linalg.norm(grad):.4g}")
    return lines


def _edge_lines(nodes, ids):
    """One arrow per input of every op, from the input to the op, with its name and shape;
    an input that needs no gradient (parent None) is drawn as a plain 'no grad' label."""
    lines = []
    for node in nodes:
        if not isinstance(node, Function):
            continue
        names = _input_names(node)
        for i, (parent, shape) in enumerate(zip(node.parents, node.input_shapes)):
            source = ids[id(node)] + f"_in{i}"
            if parent is None:
                lines.append(f"  {source} [{CONSTANT_STYLE}, label={_quote(['no grad'])}];")
            else:
                source = ids[id(parent)]
            label = _quote([names[i] + " " + _shape_text(shape)])
            lines.append(f"  {source} -> {ids[id(node)]} [label={label}];")
    return lines


def _input_names(fn):
    """The names of the op's inputs, read off its ``forward(self, x, weight, ...)``."""
    names = []
    for parameter in list(inspect.signature(type(fn).forward).parameters.values())[1:]:
        if parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            break
        names.append(parameter.name)
    names += [f"input {i}" for i in range(len(names), len(fn.parents))]
    return names


def _shape_text(shape):
    return str(tuple(shape))


def _quote(lines):
    """A DOT string: the lines escaped and joined with DOT's centred line break."""
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    return '"' + "\\n".join(escaped) + '"'
