"""Write ``cupy_api.json``: the part of CuPy's API the stand-in checks itself against.

Run it in an environment where CuPy imports (no GPU is needed, CuPy imports without a
driver)::

    python -m minigrad.testing.cupy_snapshot            # rewrites minigrad/testing/cupy_api.json
    python -m minigrad.testing.cupy_snapshot out.json   # or writes elsewhere

The snapshot records CuPy's version; for each module in ``MODULES`` its public names;
the attributes of ``cupy.ndarray``; and for every callable the names it accepts as
keywords. Those come from ``inspect.signature`` where Python can read one; CuPy's Cython
functions, methods and ufuncs have none, but their docstrings start with their signature
(``_ndarray_base.sum(self, axis=None, dtype=None, out=None, keepdims=False)``), so that
line is parsed instead. ``null`` means the keywords are unknown (or any keyword goes, as
with ``**kwargs``): the stand-in then checks names only.

The file is written atomically (a temporary file, then a rename), so a failed run never
leaves half a snapshot behind.
"""
import importlib
import inspect
import json
import os
import re
import sys
import tempfile

MODULES = ("cupy", "cupy.linalg", "cupy.fft", "cupy.lib", "cupy.lib.stride_tricks",
           "cupy.cuda", "cupy.cuda.runtime")
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PATH = os.path.join(HERE, "cupy_api.json")
_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*$")


def split_parameters(text):
    """'a, b=(1, 2), *, c=None' -> ['a', 'b=(1, 2)', '*', 'c=None']: commas at the top level."""
    parts, depth, quote, current = [], 0, None, ""
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def keywords_from_text(signature):
    """The keyword names of a signature written as text (Cython types allowed), or None.

    Parameters before ``/`` are positional only, ``*args`` takes no keyword, and
    ``**kwargs`` means any keyword goes (None).
    """
    names, positional_only = [], []
    for part in split_parameters(signature.replace("\\*", "*")):
        declaration = part.split("=", 1)[0].split(":", 1)[0].strip()
        if declaration == "/":
            positional_only, names = positional_only + names, []
            continue
        if declaration.startswith("**"):
            return None
        if declaration.startswith("*"):
            continue  # '*' itself or '*args'
        name = declaration.split()[-1] if declaration else ""
        if not _NAME.match(name):
            return None  # not a signature we understand
        names.append(name)
    return [name for name in names if name != "self"]


def docstring_signature(value):
    """The text inside the parentheses of a docstring's first line ``some.name(...)``, or
    None. The name may differ from the attribute's: ``cupy.abs`` documents ``absolute(x, ...)``."""
    lines = (getattr(value, "__doc__", None) or "").strip().splitlines()
    if not lines:
        return None
    match = re.match(r"^[\w.]+\((.*)\)(?:\s*->.*)?$", lines[0].strip())
    return match.group(1) if match else None


def keywords(value):
    """The keyword names the callable ``value`` accepts (``self`` left out), or None if unknown."""
    try:
        parameters = inspect.signature(value).parameters.values()
    except (TypeError, ValueError):
        text = docstring_signature(value)
        return None if text is None else keywords_from_text(text)
    names = []
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            names.append(parameter.name)
    return [name for name in names if name != "self"]


def describe(value):
    """{'kind': ..., 'keywords': [...] or None} for one attribute."""
    if inspect.ismodule(value):
        return {"kind": "module", "keywords": None}
    if isinstance(value, type):
        return {"kind": "type", "keywords": None}
    if callable(value):
        return {"kind": "callable", "keywords": keywords(value)}
    return {"kind": "value", "keywords": None}


def public_names(owner, dunder=False):
    """Names of ``owner`` that do not start with '_' (with dunders too when asked)."""
    return sorted(name for name in dir(owner)
                  if not name.startswith("_") or (dunder and name.startswith("__")))


def snapshot():
    """The snapshot of the CuPy importable here, as a dict ready for JSON."""
    import cupy
    modules = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        modules[module_name] = {name: describe(getattr(module, name))
                                for name in public_names(module)}
    ndarray = {name: describe(getattr(cupy.ndarray, name))
               for name in public_names(cupy.ndarray, dunder=True)}
    return {"cupy_version": cupy.__version__,
            "generated_by": "python -m minigrad.testing.cupy_snapshot",
            "modules": modules, "ndarray": ndarray}


def write_atomically(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".cupy_api-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else DEFAULT_PATH
    data = snapshot()
    write_atomically(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    counts = ", ".join(f"{name} {len(names)}" for name, names in data["modules"].items())
    print(f"wrote {path}: CuPy {data['cupy_version']}; names: {counts}; "
          f"ndarray {len(data['ndarray'])}")


if __name__ == "__main__":
    main()
