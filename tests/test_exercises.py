"""The exercises: the engine's own ops pass every check, each typical mistake fails
with the hint that names it, and the commands do what they say.

The wrong backwards below are what a student might write: each is a subclass of
the engine's Function with one mistake in backward (or, for max-pooling, in
which tied entry forward marks as the winner).
"""
import inspect
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from helpers import DEVICES

import minigrad.functional as F
from minigrad import Tensor
from minigrad.backend import get_array_module
from minigrad.exercises import EXERCISES, check, check_file, start
from minigrad.exercises.__main__ import main
from minigrad.exercises.checks import FIRST_CONV, UNBROADCAST_HINT
from minigrad.ops.conv import Convolution
from minigrad.ops.elementwise import Add, Mul
from minigrad.ops.loss import LogSoftmax, NegativeLogLikelihood
from minigrad.ops.pool import MaxPooling
from minigrad.ops.reduce import Mean

EXAMPLES = 3  # per property: the checks' own example comes first, then hypothesis draws
REPOSITORY = Path(__file__).resolve().parents[1]


def failures(report):
    """{description: detail} of the failed properties."""
    return {result.description: result.detail for result in report.results
            if result.status == "FAIL"}


def engines(name):
    """The engine's Functions of exercise ``name``: its reference solution."""
    return tuple(part.engine for part in EXERCISES[name].parts)


def engine_fold(cols, shape, window):
    """The engine's public fold, taking the exercise's layout: columns (K, L·N)."""
    batch_major = cols.reshape(len(cols), -1, shape[0]).transpose(2, 0, 1)  # (N, K, L)
    return F.fold(Tensor(batch_major), shape[2:], window.kernel, stride=window.stride,
                  padding=window.padding).data


def recorded(tensor):
    """Every Function on the tape that made ``tensor``."""
    functions, stack = [], [tensor.grad_fn]
    while stack:
        function = stack.pop()
        functions.append(function)
        stack += [parent for parent in function.parents
                  if parent is not None and not isinstance(parent, Tensor)]
    return functions


# ----- (a) the engine's ops are the reference solutions: they pass --------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_engines_op_passes_its_exercise(name, device):
    module = types.SimpleNamespace(fold=engine_fold) if name == "conv2d" else None
    report = check(name, engines(name), examples=EXAMPLES, device=device, module=module)
    assert report.passed, report.format()
    assert all(result.status == "ok" for result in report.results), report.format()
    if name == "conv2d":
        assert any("adjoint" in result.description for result in report.results)


def test_the_stubs_describe_what_forward_really_saves():
    """Every ``self.<name>`` a stub promises is set by the engine's forward on a real case."""
    def leaf(*shape):
        return Tensor(np.ones(shape), requires_grad=True)
    outputs = {
        "add": leaf(2, 3) + np.ones(3), "mul": leaf(2, 3) * np.ones(3),
        "matmul": leaf(2, 3) @ np.ones((3, 2)), "sum": F.sum(leaf(2, 3), 1),
        "mean": F.mean(leaf(2, 3), 1), "relu": F.relu(leaf(2, 3)),
        "max_pool2d": F.max_pool2d(leaf(1, 1, 4, 4), 2, stride=1),
        "cross_entropy": F.cross_entropy(leaf(2, 3), np.array([0, 2])),
        "conv2d": F.conv2d(leaf(1, 1, 4, 4), leaf(1, 1, 3, 3)),
    }
    assert set(outputs) == set(EXERCISES)
    for name, exercise in EXERCISES.items():
        functions = {type(function): function for function in recorded(outputs[name])}
        for part in exercise.parts:
            assert part.engine in functions, (name, part.engine, list(functions))
            for attribute in part.saved:
                assert hasattr(functions[part.engine], attribute), (
                    f"{name}: {part.engine.__name__}.forward saves no self.{attribute}")


# ----- (b) each typical mistake fails, with the hint that names it ----------------------------

class AddWithoutUnbroadcast(Add):
    def backward(self, grad_out):
        return grad_out, grad_out


class MulSignFlipped(Mul):
    def backward(self, grad_out):
        grad_a, grad_b = super().backward(grad_out)
        return -grad_a, -grad_b


class MeanWithoutDividing(Mean):
    def backward(self, grad_out):
        (grad,) = super().backward(grad_out)
        return (grad * (grad.size / grad_out.size),)


class NegativeLogLikelihoodIgnoringGradOut(NegativeLogLikelihood):
    """Backward as if grad_out were 1: the mean's 1/N never arrives."""

    def backward(self, grad_out):
        return super().backward(get_array_module(grad_out).ones_like(grad_out))


class MaxPoolLastMax(MaxPooling):
    """Forward marks the last of tied maxima as the winner (≥ where > belongs)."""

    def forward(self, x, window):
        y = super().forward(x, window)
        xp = get_array_module(x)
        (kh, kw), (sh, sw), (oh, ow) = window.kernel, window.stride, window.out_size
        for i in range(kh):
            for j in range(kw):
                tap = x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
                xp.copyto(self.winner, i * kw + j, where=tap == y)
        return y


def assigning_fold(cols, shape, window):
    """A fold that assigns (=) each tap's entries into the image instead of adding them."""
    xp = get_array_module(cols)
    n, c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = (window.kernel, window.stride, window.padding,
                                              window.out_size)
    taps = cols.reshape(c, kh, kw, oh, ow, n)
    image = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            image[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] = taps[:, i, j]
    return image[:, ph:ph + h, pw:pw + w].transpose(3, 0, 1, 2)


class ConvolutionFoldAssigns(Convolution):
    """dW and db right; dX = fold(dU) through the assigning fold."""

    def backward(self, grad_out):
        n, out_channels = grad_out.shape[:2]
        grad_y = grad_out.transpose(1, 2, 3, 0).reshape(out_channels, -1)
        grad_cols = self.weight_matrix[0].T @ grad_y
        _, grad_weight, grad_bias = super().backward(grad_out)
        grad_x = assigning_fold(grad_cols, (n,) + self.image_shape, self.window)
        return grad_x, grad_weight, grad_bias


MISTAKES = {  # exercise, wrong Function, the failed property → a phrase its hint must contain
    "add without unbroadcast": ("add", AddWithoutUnbroadcast, {
        "shaped like its input": UNBROADCAST_HINT}),
    "mul with its sign flipped": ("mul", MulSignFlipped, {
        "finite differences": "sign flipped"}),
    "mean without the 1/n": ("mean", MeanWithoutDividing, {
        "finite differences": "times 3 everywhere"}),
    "cross-entropy without the 1/N": ("cross_entropy",
                                      (LogSoftmax, NegativeLogLikelihoodIgnoringGradOut), {
        "finite differences": "the gradient is N = 4 times too large",
        "PyTorch": "the gradient is N = 4 times too large"}),
    "max-pool to the last maximum": ("max_pool2d", MaxPoolLastMax, {
        "first maximum": "went to the last maximum"}),
    "fold assigning instead of adding": ("conv2d", ConvolutionFoldAssigns, {
        "finite differences": "your fold keeps only one of them",
        "PyTorch": "your fold keeps only one of them",
        "adjoint": "your fold keeps only one of them"}),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_typical_mistake_fails_with_its_hint(mistake, device):
    name, wrong, expected = MISTAKES[mistake]
    module = types.SimpleNamespace(fold=assigning_fold) if name == "conv2d" else None
    report = check(name, wrong, examples=EXAMPLES, device=device, module=module)
    assert not report.passed
    failed = failures(report)
    for words, hint in expected.items():
        matching = [detail for description, detail in failed.items() if words in description]
        assert matching, f"no failed property about {words!r}:\n{report.format()}"
        flat = " ".join(matching[0].split())
        assert f"hint: {' '.join(hint.split())}" in flat or hint in flat, report.format()


def test_a_tie_is_invisible_to_finite_differences_but_not_to_the_tie_check():
    """The last-max mistake passes gradcheck (untied inputs): only the tie rule catches it."""
    report = check("max_pool2d", MaxPoolLastMax, examples=EXAMPLES)
    statuses = {result.description: result.status for result in report.results}
    assert [status for description, status in statuses.items()
            if "finite differences" in description] == ["ok"]
    assert list(failures(report)) == [
        "a tie sends the gradient to the first maximum, as in PyTorch"]


def test_a_mistake_in_one_input_of_a_wide_case_is_reported_with_its_shapes():
    report = check("conv2d", ConvolutionFoldAssigns, examples=EXAMPLES)
    detail = failures(report)["gradients match float64 finite differences (gradcheck)"]
    assert "input 0 (x)" in detail
    assert f"input shape {FIRST_CONV.input_shape}" in detail


# ----- (c) the commands ------------------------------------------------------------------------

def test_list_prints_every_exercise(capsys):
    assert main([]) == 0
    listed = capsys.readouterr().out
    assert main(["list"]) == 0
    assert capsys.readouterr().out == listed
    for name in ["add", "mul", "matmul", "sum", "mean", "relu", "max_pool2d", "cross_entropy",
                 "conv2d"]:
        assert f"\n  {name} " in listed


def test_the_module_runs_as_a_command():
    result = subprocess.run([sys.executable, "-m", "minigrad.exercises"], capture_output=True,
                            text=True, cwd=REPOSITORY, check=False)
    assert result.returncode == 0, result.stderr
    assert "conv2d" in result.stdout


@pytest.mark.parametrize("name", list(EXERCISES))
def test_start_writes_a_stub_that_inherits_forward_and_leaves_backward_blank(name, tmp_path):
    path = start(name, tmp_path / "mine.py")
    source = path.read_text(encoding="utf-8")
    assert f"python -m minigrad.exercises check {name} {path}" in source
    assert "TODO" in source and "NotImplementedError" in source
    assert "def forward" not in source.replace("#     def forward", "")  # shown, not copied
    namespace = {}
    exec(compile(source, str(path), "exec"), namespace)
    for part in EXERCISES[name].parts:
        student = namespace[part.engine.__name__]
        assert student.__mro__[1] is part.engine and "forward" not in vars(student)
        with pytest.raises(NotImplementedError, match="TODO"):
            student.backward(student(), None)
        assert inspect.getsource(part.engine.forward).strip().splitlines()[0] in source
        for attribute in part.saved:
            assert f"self.{attribute}:" in source


def test_start_defaults_to_a_file_named_after_the_exercise(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["start", "relu"]) == 0
    assert (tmp_path / "relu_exercise.py").is_file()
    assert "relu_exercise.py" in capsys.readouterr().out


def test_start_never_overwrites(tmp_path, capsys):
    mine = tmp_path / "conv2d_exercise.py"
    mine.write_text("my work\n", encoding="utf-8")
    assert main(["start", "conv2d", str(mine)]) == 1
    assert mine.read_text(encoding="utf-8") == "my work\n"
    assert "already exists" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["conv2d_exercise.py"]


def test_check_exit_codes(tmp_path, capsys):
    stub = start("relu", tmp_path / "relu_exercise.py")
    assert main(["check", "relu", str(stub), "--examples", "2"]) == 1
    assert "not written yet" in capsys.readouterr().out

    solved = tmp_path / "solved.py"  # the engine's own backward, inherited: passes
    (relu,) = engines("relu")
    solved.write_text("from minigrad.ops import elementwise\n\n\n"
                      f"class {relu.__name__}(elementwise.{relu.__name__}):\n    pass\n",
                      encoding="utf-8")
    assert main(["check", "relu", str(solved), "--examples", "2"]) == 0
    out = capsys.readouterr().out
    assert "All 3 checks passed" in out and "FAIL" not in out

    assert main(["check", "relu", str(tmp_path / "missing.py")]) == 1
    assert "there is no file" in capsys.readouterr().err
    assert main(["check", "conv2d", str(solved)]) == 1
    assert "defines no class Convolution" in capsys.readouterr().err
    assert main(["check", "softmax", str(solved)]) == 1
    assert "there is no exercise 'softmax'" in capsys.readouterr().err


def test_check_names_the_students_line_when_backward_raises(tmp_path):
    broken = tmp_path / "broken.py"
    relu = engines("relu")[0].__name__
    broken.write_text("from minigrad.ops import elementwise\n\n\n"
                      f"class {relu}(elementwise.{relu}):\n"
                      "    def backward(self, grad_out):\n"
                      "        return (grad_out * self.no_such_thing,)\n", encoding="utf-8")
    report = check_file("relu", broken, examples=2)
    detail = failures(report)[report.results[0].description]
    assert "AttributeError" in detail
    assert f"raised at {broken}, line 6: return (grad_out * self.no_such_thing,)" in detail


def test_a_file_that_does_not_load_is_reported(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("def backward(:\n", encoding="utf-8")
    assert main(["check", "relu", str(bad)]) == 1
    assert f"{bad}, line 1 could not be loaded: SyntaxError" in capsys.readouterr().err


def test_the_checks_take_the_class_as_a_parameter_and_leave_the_engine_alone():
    before = {engine: dict(vars(engine)) for name in EXERCISES for engine in engines(name)}
    check("add", AddWithoutUnbroadcast, examples=EXAMPLES)
    check("conv2d", ConvolutionFoldAssigns, examples=EXAMPLES)
    assert {engine: dict(vars(engine)) for engine in before} == before


# ----- the README's walk-through is the commands' real output ----------------------------------

WRONG_FOLD_FILE = """\
from test_exercises import ConvolutionFoldAssigns, assigning_fold as fold


class Convolution(ConvolutionFoldAssigns):
    pass
"""
RIGHT_FILE = """\
from minigrad.ops import conv
from test_exercises import engine_fold as fold


class Convolution(conv.Convolution):
    pass
"""


def readme_sessions():
    """(command, output) of every ``$ python -m minigrad.exercises ...`` block of
    docs/learning.md, where the README's way in leads."""
    section = (REPOSITORY / "docs" / "learning.md").read_text(encoding="utf-8")
    return re.findall(r"^```\n\$ python -m minigrad\.exercises(.*?)\n(.*?)^```$", section,
                      re.MULTILINE | re.DOTALL)


def test_the_readme_shows_what_the_commands_print(tmp_path, monkeypatch, capsys):
    """The README's list, start and the failing and passing checks of conv2d (a fold
    that assigns, then one that adds), word for word."""
    monkeypatch.chdir(tmp_path)
    sessions = readme_sessions()
    check_command = " check conv2d conv2d_exercise.py"
    assert [command for command, _ in sessions] == ["", " start conv2d", check_command,
                                                    check_command]
    contents = [None, None, WRONG_FOLD_FILE, RIGHT_FILE]
    for (command, shown), content in zip(sessions, contents):
        if content is not None:  # the student edits the file start wrote
            (tmp_path / "conv2d_exercise.py").write_text(content, encoding="utf-8")
        main(command.split())
        assert capsys.readouterr().out == shown, f"README block for `{command}` is out of date"


def test_start_in_a_folder_it_cannot_write_is_one_clear_line(tmp_path, monkeypatch, capsys):
    """A read-only folder (simulated: root may write anywhere) names the file, no traceback."""
    import importlib
    commands = importlib.import_module("minigrad.exercises.commands")

    def read_only(path, data):
        raise PermissionError(13, "Permission denied", str(path) + ".tmp-1")
    monkeypatch.setattr(commands, "write_bytes", read_only)
    target = tmp_path / "relu_exercise.py"
    assert main(["start", "relu", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {target}: Permission denied" in err and ".tmp-1" not in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
