"""Shared benchmark plumbing: the environment each worker process runs in,
what a worker measures about itself (time, memory), the driver that
alternates workers, and the PyTorch twin of the two networks.

Every figure the benchmarks report comes from a worker: a fresh Python
process that imports ONE framework, builds its model and data, warms up and
measures, then prints one JSON line. A user runs one framework at a time, so
no thread pool, cache or allocator is shared between the two. The driver
alternates the frameworks A B A B ... over rounds, so machine drift hits both
alike, and reports the median of the per-round ratios with their range.

NumPy, minigrad and PyTorch are imported inside the functions that need
them: this module is loaded before the BLAS environment is settled, and a
worker loads only its own framework.
"""
import ctypes
import gc
import json
import os
import platform
import resource
import subprocess
import sys

BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
FRAMEWORKS = ("minigrad", "torch")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

__all__ = [
    "BLAS_VARS", "FRAMEWORKS", "RESULTS", "THREAD_VARS", "MemoryProbe", "WorkerError",
    "alternate", "check_gpu", "compare", "framework_report", "live_memory_hook", "machine_report",
    "median",
    "reexec_without_blas_overrides", "run_worker", "torch_twin", "worker_env", "write_json",
]


# ----- the environment --------------------------------------------------------

def reexec_without_blas_overrides(argv):
    """Restart this process without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE.

    Some machines set both to work around old OpenBLAS bugs; they pin a slow
    kernel in a current NumPy. Benchmarks may drop them for their own process
    (tests and CI keep the environment as it is). Must run before NumPy loads.
    """
    if "--keep-blas-env" in argv or not any(v in os.environ for v in BLAS_VARS):
        return
    if not os.path.isfile(argv[0]):  # `python -c` (a test importing a benchmark): no script to restart
        return
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
    env["MINIGRAD_BENCH_DROPPED_BLAS_ENV"] = "1"
    os.execve(sys.executable, [sys.executable] + argv, env)


def worker_env(threads=None):
    """The environment of a worker: this one, with every BLAS/OpenMP pool set
    to ``threads`` when given (otherwise each framework keeps its default)."""
    env = dict(os.environ)
    if threads:
        for name in THREAD_VARS:
            env[name] = str(threads)
    return env


def machine_report():
    """nproc, CPU model, Python version and 1-minute load average, as a dict."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"nproc": usable, "cpu": model, "python": platform.python_version(), "load": load,
            "dropped_blas_env": bool(os.environ.get("MINIGRAD_BENCH_DROPPED_BLAS_ENV"))}


def blas_report():
    """NumPy's BLAS: name, version, and the kernel and threads OpenBLAS chose
    at run time (read from the loaded library where it can be found)."""
    import numpy as np
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        text = f"{blas.get('name')} {blas.get('version')}"
    except (TypeError, KeyError):
        text = "unknown BLAS"
    library = _loaded_library("openblas")
    if library is None:
        return text
    for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", "")):
        corename = getattr(library, f"{prefix}get_corename{suffix}", None)
        threads = getattr(library, f"{prefix}get_num_threads{suffix}", None)
        if corename is not None and threads is not None:
            corename.restype = ctypes.c_char_p
            return f"{text}, kernel {corename().decode()}, {threads()} threads"
    return text


def _loaded_library(fragment):
    """The first shared library of this process whose path contains ``fragment``."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if fragment in line})
    except OSError:
        return None
    return ctypes.CDLL(paths[0]) if paths else None


def framework_report(torch=None):
    """Versions and thread counts a worker reports about itself."""
    import numpy as np
    report = {"numpy": np.__version__, "blas": blas_report()}
    if torch is not None:
        report.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    return report


def check_gpu(script):
    """Stop with a clear message unless CuPy and PyTorch CUDA both work here."""
    from minigrad import backend
    try:
        backend.gpu_module()
    except backend.GPUUnavailableError as error:
        raise SystemExit(f"{script} --device gpu: minigrad cannot use the GPU: {error}")
    try:
        import torch
    except ImportError:
        raise SystemExit(f"{script} --device gpu: PyTorch is not installed")
    if not torch.cuda.is_available():
        raise SystemExit(f"{script} --device gpu: PyTorch {torch.__version__} sees no CUDA "
                         "device (a CPU-only build, or no GPU on this machine)")


# ----- what a worker measures about itself --------------------------------------

class MemoryProbe:
    """Peak memory of the steps beyond what lives between them; use it as
    ``with MemoryProbe(device, torch) as probe:`` around the timed steps, then read
    ``probe.peak_growth()``.

    On the CPU, entering frees what the allocator keeps (``malloc_trim``), reads the
    resident set size as the baseline and resets the kernel's peak counter;
    ``peak_growth()`` is the peak resident set size (``ru_maxrss``) since then minus
    the baseline: the memory the steps need at their worst. On the GPU both frameworks
    count the bytes in live allocations, above what lived when the steps began: PyTorch
    with ``max_memory_allocated``, minigrad with :func:`live_memory_hook` (the pool's
    cached free blocks are not counted, as PyTorch does not count its own).
    """

    def __init__(self, device="cpu", torch=None):
        self.device, self.torch, self.baseline, self.peak_was_reset = device, torch, 0, False
        self.hook = None

    def __enter__(self):
        gc.collect()
        if self.device == "gpu":
            self.peak_was_reset = True
            if self.torch is not None:
                self.torch.cuda.reset_peak_memory_stats()
                self.baseline = self.torch.cuda.memory_allocated()
            else:
                from minigrad import backend
                self.hook = live_memory_hook(backend.gpu_module())
                self.hook.__enter__()
            return self
        _trim_heap()
        self.baseline = _resident_bytes()
        self.peak_was_reset = _reset_peak_rss()
        return self

    def __exit__(self, *exc_info):
        if self.hook is not None:
            self.hook.__exit__(*exc_info)
        return False

    def peak_growth(self):
        """Bytes above the baseline at the worst moment of the steps."""
        if self.hook is not None:
            return self.hook.peak
        if self.device == "gpu":
            return self.torch.cuda.max_memory_allocated() - self.baseline
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        return max(0, peak - self.baseline)


def live_memory_hook(gpu):
    """A ``cupy.cuda.MemoryHook`` counting the bytes in live allocations: ``in_use`` now
    and ``peak`` since it was made, both relative to when it was made (as PyTorch's
    ``max_memory_allocated`` after ``reset_peak_memory_stats``, less what was allocated then).

    CuPy calls ``malloc_postprocess`` when its pool hands out a block and
    ``free_postprocess`` when a block goes back; ``mem_size`` is the block's size
    (the request rounded up to 512 bytes, as PyTorch rounds). It counts only inside
    ``with hook:``, on this thread.
    """
    class LiveMemory(gpu.cuda.MemoryHook):
        name = "LiveMemory"

        def __init__(self):
            self.in_use = self.peak = 0

        def malloc_postprocess(self, **kwargs):
            self.in_use += kwargs["mem_size"]
            self.peak = max(self.peak, self.in_use)

        def free_postprocess(self, **kwargs):
            self.in_use -= kwargs["mem_size"]

    return LiveMemory()


def _trim_heap():
    """Give freed heap memory back to the system (glibc only; else nothing)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _resident_bytes():
    """The resident set size now (Linux /proc), else the peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak_rss():
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


# ----- the driver ------------------------------------------------------------------

class WorkerError(RuntimeError):
    """A worker process failed; the message holds its command and error output."""


def run_worker(script, arguments, threads=None, timeout=900):
    """Run ``python script --worker ...`` in a fresh process; return its JSON line."""
    command = [sys.executable, script] + [str(a) for a in arguments]
    done = subprocess.run(command, capture_output=True, text=True, env=worker_env(threads),
                          timeout=timeout)
    if done.returncode != 0:
        raise WorkerError(f"{' '.join(command)} failed with exit status {done.returncode}:\n"
                          f"{done.stderr.strip()[-2000:]}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise WorkerError(f"{' '.join(command)} printed nothing")
    return json.loads(lines[-1])


def alternate(measure, rounds):
    """[{framework: measure(framework)}] for each round, A B A B ... in order."""
    per_round = []
    for _ in range(rounds):
        per_round.append({framework: measure(framework) for framework in FRAMEWORKS})
    return per_round


def compare(per_round, key):
    """Median of each framework's ``key`` over the rounds, and the median,
    min and max of the per-round ratios minigrad / PyTorch."""
    ours = [r["minigrad"][key] for r in per_round]
    theirs = [r["torch"][key] for r in per_round]
    ratios = [a / b if b else float("inf") for a, b in zip(ours, theirs)]
    return {"minigrad": median(ours), "torch": median(theirs), "ratio": median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios)}


def write_json(path, payload):
    """Write ``payload`` as indented JSON, atomically (minigrad's one writer)."""
    from minigrad.fileio import write_bytes
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_bytes(path, (json.dumps(payload, indent=2) + "\n").encode())


# ----- the PyTorch twin ---------------------------------------------------------------

def torch_twin(torch, network, state):
    """The PyTorch ``nn.Sequential`` of the assignment's ``network`` ('fixed' or
    'varres', global max pooling), loaded with minigrad's ``state_dict``.

    Built from the architecture, not from minigrad's layer classes; the
    parameter names (``0.weight`` ... ``10.bias``) match minigrad's, so a
    strict load proves the two networks have the same shapes.
    """
    nn = torch.nn
    channels = [1] + [state[f"{index}.weight"].shape[0] for index in (0, 3, 6)]
    layers = []
    for c_in, c_out in zip(channels, channels[1:]):
        layers += [nn.Conv2d(c_in, c_out, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2)]
    if network == "fixed":
        layers += [nn.Flatten(), nn.Linear(channels[-1] * 3 * 3, 10)]
    else:  # one parameter-free slot, so the Linear keeps index 10 as in minigrad
        layers += [nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten()),
                   nn.Linear(channels[-1], 10)]
    twin = nn.Sequential(*layers)
    twin.load_state_dict({name: torch.from_numpy(value.copy()) for name, value in state.items()})
    return twin
