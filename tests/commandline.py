"""Running examples/train_mnist.py as a user does: a subprocess, its exit code,
its output. Shared by test_train.py and test_cli_errors.py."""
import importlib
import os
import signal
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
# Runs the command with a Ctrl-C arriving while the 100th PNG is opened: always during
# the decoding, however fast this machine decodes.
CTRL_C_WHILE_DECODING = """
import os, runpy, signal, sys
from PIL import Image
real_open, opened = Image.open, []
def open_and_count(*args, **kwargs):
    opened.append(1)
    if len(opened) == 100:
        os.kill(os.getpid(), signal.SIGINT)
    return real_open(*args, **kwargs)
Image.open = open_and_count
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


def command(*args, stand_in=False, script=SCRIPT, wrapper=None):
    """The argv that runs ``script`` (train_mnist.py) with ``args``; ``wrapper`` is Python
    code that runs first and then runs the script (``stand_in``: WITH_GPU_STAND_IN)."""
    wrapper = WITH_GPU_STAND_IN if stand_in else wrapper
    if wrapper:
        return [sys.executable, "-c", wrapper, str(script), *map(str, args)]
    return [sys.executable, str(script), *map(str, args)]


def ctrl_c_as_usual():
    """Run in the child before it starts: Ctrl-C (SIGINT) does what it does in a terminal.
    A shell that starts jobs in the background (`&`, nohup, some CI runners) ignores SIGINT,
    and a child would inherit that and never see the Ctrl-C a test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(*args, timeout=180, stand_in=False, script=SCRIPT, env=None, wrapper=None):
    """Run train_mnist.py (or another example) with ``args``; the CompletedProcess."""
    return subprocess.run(command(*args, stand_in=stand_in, script=script, wrapper=wrapper),
                          capture_output=True, text=True, timeout=timeout,
                          env=env or environment(), preexec_fn=ctrl_c_as_usual)


def start_cli(*args, env=None):
    """train_mnist.py started in the background, its output read line by line."""
    return subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env or environment(), preexec_fn=ctrl_c_as_usual)


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


def the_commands_train_epoch():
    """examples/train_mnist.py's train_epoch, imported as the command does."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        return importlib.import_module("train_mnist").train_epoch
    finally:
        sys.path.remove(str(ROOT / "examples"))
