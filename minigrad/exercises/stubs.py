"""The stub file a student starts from, built at run time from the engine's own op.

The stub's class subclasses the engine's Function, so it inherits forward
unchanged; only backward is blank. The forward's source is read with
``inspect.getsource`` and shown at the bottom of the stub as comments, for
reading: the repository holds no second copy of any op.
"""
import inspect
import re
import textwrap

__all__ = ["stub_source"]

HEADER = '''\
"""Exercise "{name}": {title}.
{intro}
{write}

    python -m minigrad.exercises check {name} {path}

{inherits}
"""
from minigrad.backend import get_array_module  # xp = get_array_module(array): numpy, or cupy
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

# ----- The forward you inherit: {engine}.forward in {file} -----
#
{listing}
'''


def stub_source(exercise, path):
    """The text of the stub file for ``exercise``, to be saved at ``path``."""
    engines = [part.engine for part in exercise.parts]
    names = [engine.__name__ for engine in engines]
    backwards = [f"{name}.backward" for name in names]
    helpers = re.findall(r"^def (\w+)", exercise.helpers, re.MULTILINE)
    origins = " and ".join(f"{engine.__module__}.{engine.__name__}" for engine in engines)
    header = HEADER.format(
        name=exercise.name, title=exercise.title, path=path,
        intro=f"\n{exercise.intro}\n" if exercise.intro else "",
        write=textwrap.fill(f"Write {' and '.join(backwards + helpers)} below (every TODO), "
                            "then let minigrad's property tests judge your code:", width=80),
        inherits=textwrap.fill(
            (f"Your class inherits forward from minigrad's own {origins}" if len(engines) == 1
             else f"Your classes inherit forward from minigrad's own {origins}")
            + " (shown at the bottom of this file) and "
            + ("replaces" if len(engines) == 1 else "replace") + " only backward.", width=80))
    modules = sorted({engine.__module__ for engine in engines})
    parts = [header]
    parts += [f"from {module.rpartition('.')[0]} import {module.rpartition('.')[2]}\n"
              for module in modules]
    parts += [line + "\n" for line in exercise.imports]
    parts += [_class_source(exercise.name, part) for part in exercise.parts]
    parts.append(exercise.helpers)
    parts += [_forward_listing(engine) for engine in engines]
    return "".join(parts)


def _class_source(name, part):
    saved = "\n".join(textwrap.fill(f"self.{attribute}: {meaning}", width=80,
                                    subsequent_indent="    ")
                      for attribute, meaning in part.saved.items())
    return CLASS.format(name=name, engine=part.engine.__name__,
                        alias=part.engine.__module__.rpartition(".")[2], returns=part.returns,
                        derive=_indent(part.derive, 8), saved=_indent(saved, 12))


def _forward_listing(engine):
    """The engine's forward as comment lines, read from its source."""
    forward = textwrap.dedent(inspect.getsource(engine.forward)).rstrip("\n")
    listing = "\n".join(f"#     {line}".rstrip() for line in forward.splitlines())
    file = engine.__module__.replace(".", "/") + ".py"
    return FORWARD.format(engine=engine.__name__, file=file, listing=listing)


def _indent(text, spaces):
    return textwrap.indent(text, " " * spaces)
