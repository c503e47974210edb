"""What the three commands do: list the exercises, start one, check a solution."""
import importlib.util
import inspect
from pathlib import Path

from minigrad.autograd import Function
from minigrad.exercises.catalog import EXERCISES
from minigrad.exercises.checks import PROPERTIES
from minigrad.exercises.runner import run_checks
from minigrad.exercises.stubs import stub_source
from minigrad.fileio import write_bytes

__all__ = ["ExerciseError", "check", "check_file", "exercise", "listing", "load", "start"]

DEFAULT_EXAMPLES = 10


class ExerciseError(Exception):
    """A problem the student can fix: an unknown exercise, a missing file, a file that
    does not load or lacks the class."""


def exercise(name):
    """The :class:`~minigrad.exercises.catalog.Exercise` called ``name``."""
    if name not in EXERCISES:
        raise ExerciseError(f"there is no exercise {name!r}; the exercises are: "
                            f"{', '.join(EXERCISES)}")
    return EXERCISES[name]


def listing():
    """The text ``python -m minigrad.exercises`` prints."""
    width = max(len(name) for name in EXERCISES)
    lines = ["Exercises: write the backward of one of minigrad's ops; the property tests",
             "the engine itself passes judge yours.", ""]
    lines += [f"  {name:<{width}}  {item.title}" for name, item in EXERCISES.items()]
    lines += ["",
              "Start one:   python -m minigrad.exercises start conv2d       "
              "(writes ./conv2d_exercise.py)",
              "Check it:    python -m minigrad.exercises check conv2d conv2d_exercise.py"]
    return "\n".join(lines)


def start(name, path=None):
    """Write the stub of exercise ``name`` to ``path`` (default ./<name>_exercise.py)
    and return the path. An existing file is never overwritten: ExerciseError."""
    item = exercise(name)
    path = Path(path if path is not None else f"{name}_exercise.py")
    if path.exists():
        raise ExerciseError(f"{path} already exists; it is yours, so it is left as it is. "
                            f"Check it with: python -m minigrad.exercises check {name} {path}, "
                            "or start afresh in another file: "
                            f"python -m minigrad.exercises start {name} OTHER_FILE")
    if not path.parent.is_dir():
        raise ExerciseError(f"cannot write {path}: there is no folder {path.parent}")
    try:
        write_bytes(path, stub_source(item, path).encode("utf-8"))
    except OSError as error:  # a read-only folder, a full disk: name the user's file
        raise ExerciseError(f"cannot write {path}: {error.strerror or error}; start it in a "
                            f"folder you can write to: python -m minigrad.exercises start "
                            f"{name} OTHER_FOLDER/{path.name}") from None
    return path


def load(path):
    """Import the Python file at ``path`` (the student's own code) as a module."""
    path = Path(path)
    if not path.is_file():
        raise ExerciseError(f"there is no file {path}")
    spec = importlib.util.spec_from_file_location(f"exercise_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        line = f", line {error.lineno}" if isinstance(error, SyntaxError) else ""
        raise ExerciseError(f"{path}{line} could not be loaded: "
                            f"{type(error).__name__}: {error}") from error
    return module


def check(name, classes, examples=DEFAULT_EXAMPLES, device="cpu", module=None, file=None):
    """Run exercise ``name``'s property tests on ``classes``, the student's Function
    class (or a tuple of them, one per part of the exercise, in order); return the
    :class:`~minigrad.exercises.runner.Report`.

    ``module`` is the student's module, where conv2d also finds ``fold``;
    ``file`` is the student's file, named in the report; ``examples`` is the
    number of hypothesis examples per property.
    """
    item = exercise(name)
    classes = classes if isinstance(classes, tuple) else (classes,)
    expected = [part.engine for part in item.parts]
    if len(classes) != len(expected) or not all(
            inspect.isclass(cls) and issubclass(cls, Function) for cls in classes):
        wanted = ", ".join(f"a subclass of {engine.__module__}.{engine.__name__}"
                           for engine in expected)
        raise ExerciseError(f"exercise {name} checks {len(expected)} Function class(es) "
                            f"({wanted}), got {classes!r}")
    properties = PROPERTIES[name](classes, device, module)
    where = f" from {file}" if file else ""
    title = (f"Checking {' and '.join(cls.__name__ for cls in classes)}{where}: exercise "
             f"{name}, {examples} examples per check, on '{device}'")
    return run_checks(title, properties, examples, student_file=file)


def check_file(name, path, examples=DEFAULT_EXAMPLES, device="cpu"):
    """Load the student's file and check the classes the exercise names; return the Report."""
    item = exercise(name)
    module = load(path)
    classes = []
    for part in item.parts:
        class_name = part.engine.__name__
        if not hasattr(module, class_name):
            raise ExerciseError(f"{path} defines no class {class_name}; the exercise checks "
                                f"the class {class_name} (start from the stub: "
                                f"python -m minigrad.exercises start {name} NEW_FILE)")
        classes.append(getattr(module, class_name))
    return check(name, tuple(classes), examples, device, module, file=path)
