"""Shared benchmark plumbing: BLAS environment, timing, twin models."""
import json
import os
import platform
import sys
import time

BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def reexec_without_blas_overrides(argv):
    """Restart this process without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE.

    Some machines set both to work around old OpenBLAS bugs; they pin a slow
    kernel in a current NumPy. Benchmarks may drop them for their own process
    (tests and CI keep the environment as it is). Must run before NumPy loads.
    """
    if "--keep-blas-env" in argv or not any(v in os.environ for v in BLAS_VARS):
        return
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
    env["MINIGRAD_BENCH_DROPPED_BLAS_ENV"] = "1"
    os.execve(sys.executable, [sys.executable] + argv, env)


def blas_report():
    """Which BLAS NumPy uses now, with its kernel and threads (via threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    parts = [f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} "
             f"threads={i.get('num_threads')}" for i in threadpool_info()
             if i.get("user_api") == "blas"]
    dropped = " (OPENBLAS_CORETYPE/L2_SIZE dropped for this run)" \
        if os.environ.get("MINIGRAD_BENCH_DROPPED_BLAS_ENV") else ""
    return "; ".join(parts) + dropped


def machine_report():
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
           f"Python {platform.python_version()}"


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def time_calls(fn, count, sync=None):
    """Seconds per call of ``fn`` for ``count`` calls (``sync`` waits for a device)."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - start)
    return times


def write_json(path, payload):
    """Write ``payload`` as JSON atomically (temporary file, then rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)


def torch_twin(model, torch):
    """The PyTorch nn.Sequential equal to a minigrad Sequential, same weights."""
    from minigrad import nn
    layers = []
    for layer in model.children():
        if isinstance(layer, nn.Conv2d):
            layers.append(torch.nn.Conv2d(layer.in_channels, layer.out_channels,
                                          layer.kernel_size, layer.stride, layer.padding))
        elif isinstance(layer, nn.Linear):
            layers.append(torch.nn.Linear(layer.in_features, layer.out_features))
        elif isinstance(layer, nn.ReLU):
            layers.append(torch.nn.ReLU())
        elif isinstance(layer, nn.MaxPool2d):
            layers.append(torch.nn.MaxPool2d(layer.kernel_size, layer.stride))
        elif isinstance(layer, nn.Flatten):
            layers.append(torch.nn.Flatten())
        elif isinstance(layer, nn.GlobalMaxPool2d):
            layers.append(torch.nn.Sequential(torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten()))
        elif isinstance(layer, nn.GlobalAvgPool2d):
            layers.append(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()))
        else:
            raise TypeError(f"no PyTorch twin for {layer!r}")
    twin = torch.nn.Sequential(*layers)
    state = {}
    for (name, _), value in zip(twin.state_dict().items(), model.state_dict().values()):
        state[name] = torch.from_numpy(value.copy())
    twin.load_state_dict(state)
    return twin
