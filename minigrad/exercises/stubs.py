"""The stub file a student starts from, built at run time from the engine's own op.

The stub's class subclasses the engine's Function, so it inherits forward
unchanged; only backward is blank. The forward's source is read with
``inspect.getsource`` and shown at the bottom of the stub as comments, for
reading: the repository holds no second copy of any op.
"""
import inspect
import textwrap

__all__ = ["stub_source"]

HEADER = '''\
"""Exercise "{name}": {title}.

Write the backward below (every TODO), then let minigrad's property tests judge it:

    python -m minigrad.exercises check {name} {path}

Your class inherits forward from minigrad's own {module}.{engine}
(shown at the bottom of this file), and replaces only backward.
"""
from minigrad.backend import get_array_module  # xp = get_array_module(array): numpy, or cupy
from {package} import {alias}
'''

CLASS = '''

class {engine}({alias}.{engine}):
    """minigrad's {engine} with your backward."""

    def backward(self, grad_out):
        """Return {returns}: each gradient shaped like its input.

{derive}

        What forward saved on self:
{saved}
        """
        # TODO: write {engine}.backward
        raise NotImplementedError("TODO: write {engine}.backward (exercise {name})")
'''

FORWARD = '''

# ----- The forward you inherit, from {file} (read it; don't copy it) -----
#
{listing}
'''


def stub_source(exercise, path):
    """The text of the stub file for ``exercise``, to be saved at ``path``."""
    engine = exercise.engine
    package, _, alias = engine.__module__.rpartition(".")
    saved = "\n".join(textwrap.fill(f"self.{name}: {meaning}", width=80, subsequent_indent="    ")
                      for name, meaning in exercise.saved.items())
    fields = dict(name=exercise.name, title=exercise.title, path=path, module=engine.__module__,
                  engine=engine.__name__, package=package, alias=alias,
                  returns=exercise.returns,
                  derive=_indent(exercise.derive, 8), saved=_indent(saved, 12))
    forward = textwrap.dedent(inspect.getsource(engine.forward)).rstrip("\n")
    listing = "\n".join(f"#     {line}".rstrip() for line in forward.splitlines())
    parts = [HEADER.format(**fields)]
    parts.extend(line + "\n" for line in exercise.imports)
    parts.append(CLASS.format(**fields))
    parts.append(exercise.helpers)
    parts.append(FORWARD.format(file=_relative_file(engine), listing=listing))
    return "".join(parts)


def _indent(text, spaces):
    return textwrap.indent(text, " " * spaces)


def _relative_file(engine):
    """minigrad/ops/conv.py for minigrad.ops.conv."""
    return engine.__module__.replace(".", "/") + ".py"
