"""Running examples/train_mnist.py as a user does: a subprocess, its exit code,
its output. Shared by test_train.py and test_cli_errors.py."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "train_mnist.py"
# Runs the command with 'gpu' being CuPy if it works here, else the CPU stand-in for it.
WITH_GPU_STAND_IN = """
import os, runpy, sys
from minigrad import backend
from minigrad.testing import fake_cupy
try:
    backend.gpu_module()
except backend.GPUUnavailableError:
    backend.set_gpu_module(fake_cupy)
sys.path.insert(0, os.path.dirname(sys.argv[1]))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def environment(**extra):
    """The test's environment for the command, with PYTHONPATH at this checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.update({name: str(value) for name, value in extra.items()})
    # One BLAS thread unless the caller chose: on a shared CPU, OpenBLAS's
    # spinning threads make these small matrices many times slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def command(*args, stand_in=False, script=SCRIPT):
    """The argv that runs ``script`` (train_mnist.py) with ``args``."""
    if stand_in:
        return [sys.executable, "-c", WITH_GPU_STAND_IN, str(script), *map(str, args)]
    return [sys.executable, str(script), *map(str, args)]


def run_cli(*args, timeout=180, stand_in=False, script=SCRIPT, env=None):
    """Run train_mnist.py (or another example) with ``args``; the CompletedProcess."""
    return subprocess.run(command(*args, stand_in=stand_in, script=script), capture_output=True,
                          text=True, timeout=timeout, env=env or environment())


def start_cli(*args, env=None):
    """train_mnist.py started in the background, its output read line by line."""
    return subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env or environment())


def check_ok(result):
    assert result.returncode == 0, \
        f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr


def check_refused(result, *messages, code=2):
    """Exit code ``code``, a clear error (after argparse's usage, for argparse's
    errors) that holds every one of ``messages``, no traceback. Returns the
    error's first line."""
    assert result.returncode == code, \
        f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    assert "train_mnist.py: error: " in result.stderr, result.stderr
    error = result.stderr[result.stderr.index("train_mnist.py: error: "):]
    for message in messages:
        assert message in error, result.stderr
    return error.splitlines()[0]
