"""Running an exercise's property tests on a student's Function and reporting the outcome.

A check is a list of :class:`Property` objects, each a hypothesis test (built
with ``@given``) that calls the student's Function and asserts with
``gradcheck``, ``compare_with_torch`` or a plain comparison. :func:`run_checks`
runs them in order with a fixed number of examples, derandomized (the same
examples every run), and collects one :class:`Result` per property; a failure
keeps the assertion's message, its hints and the smallest failing case
hypothesis found.
"""
import importlib.util
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

__all__ = ["Property", "Report", "Result", "run_checks"]

PASSED, FAILED, SKIPPED = "ok", "FAIL", "skip"


@dataclass(frozen=True)
class Property:
    """One property test: ``test`` is a hypothesis test taking no arguments once given."""

    description: str
    test: object
    needs_torch: bool = False


@dataclass
class Result:
    description: str
    status: str
    detail: str = ""


@dataclass
class Report:
    """The results of one check: ``passed`` when no property failed."""

    title: str
    results: list = field(default_factory=list)

    @property
    def passed(self):
        return all(result.status != FAILED for result in self.results)

    def format(self):
        """The report as the command prints it: the first failure in full, later
        ones by their first line and hints."""
        lines, hints_shown, first_failure = [self.title, ""], set(), True
        for result in self.results:
            lines.append(f"  {result.status:<4}  {result.description}")
            detail = [line for line in result.detail.splitlines() if line.strip()]
            hint = _hint_lines(detail)
            if result.status == FAILED and not first_failure:
                shown = hint and "\n".join(hint) in hints_shown
                detail = detail[:1] + (["  hint: the same as above"] if shown else hint)
            hints_shown.add("\n".join(hint))
            first_failure = first_failure and result.status != FAILED
            lines.extend(f"        {line}" for line in detail)
        passed = sum(result.status == PASSED for result in self.results)
        checked = sum(result.status != SKIPPED for result in self.results)
        lines.append("")
        if self.passed:
            lines.append(f"All {checked} checks passed. Well done: your backward agrees with "
                         "the math, and with minigrad's own.")
        else:
            lines.append(f"{passed} of {checked} checks passed. Read the first failure above, "
                         "fix your code, and check again.")
        return "\n".join(lines)


def _hint_lines(lines):
    """The lines of every hint: a line with 'hint:' and its indented continuation."""
    kept, in_hint = [], False
    for line in lines:
        in_hint = "hint:" in line or (in_hint and line.startswith(" " * 8))
        if in_hint:
            kept.append(line)
    return kept


def run_checks(title, properties, examples, student_file=None):
    """Run each property with ``examples`` hypothesis examples; return a :class:`Report`.

    A TODO still raising NotImplementedError is explained once; later properties
    stopped by the same TODO just say so. ``student_file`` (a path) is where the
    traceback of an unexpected error is looked up, to name the student's line.
    """
    report = Report(title)
    options = settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                       suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                       print_blob=False, phases=(Phase.explicit, Phase.generate))
    torch_installed = importlib.util.find_spec("torch") is not None
    todos = set()
    for prop in properties:
        if prop.needs_torch and not torch_installed:
            report.results.append(Result(prop.description, SKIPPED,
                                         "PyTorch is not installed (pip install torch)"))
            continue
        try:
            options(prop.test)()
        except NotImplementedError as error:
            detail = "(the same TODO)" if str(error) in todos else _not_written(error)
            todos.add(str(error))
            report.results.append(Result(prop.description, FAILED, detail))
        except Exception as error:  # the student's code may raise anything: report it
            report.results.append(Result(prop.description, FAILED,
                                         _describe(error, student_file)))
        else:
            report.results.append(Result(prop.description, PASSED))
    return report


def _not_written(error):
    message = str(error) or "NotImplementedError"
    return (f"{message}\nThe backward is not written yet: replace the `raise "
            "NotImplementedError` under the TODO with your code.")


def _describe(error, student_file):
    """The error's message (an AssertionError's as it is, others with their type and
    the line that raised them), then hypothesis's smallest failing case."""
    if isinstance(error, AssertionError):
        lines = [str(error)]
    else:
        lines = [f"{type(error).__name__}: {error}"]
        where = _student_line(error, student_file)
        if where:
            lines.append(where)
    for note in getattr(error, "__notes__", []):
        lines.append(note.replace("Failing test case:", "Failing case:")
                     .replace("Failing explicit example:", "Failing case:"))
    return "\n".join(lines)


def _student_line(error, student_file):
    """'raised at FILE, line N: code' for the innermost frame in the student's file."""
    if student_file is None:
        return None
    target = Path(student_file).resolve()
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if Path(frame.filename).resolve() == target]
    if not frames:
        return None
    frame = frames[-1]
    return f"raised at {frame.filename}, line {frame.lineno}: {frame.line}"
