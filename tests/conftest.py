"""Shared test set-up: hypothesis profiles and the GPU array module.

Hypothesis profiles (choose with HYPOTHESIS_PROFILE; the default is ``ci``
when the CI variable is set, else ``dev``):

    ci        derandomized (the same examples on every run), 50 examples per
              property, no example database
    dev       10 random examples per property: a quick run while editing
    thorough  200 random examples per property, failures remembered in the
              example database: HYPOTHESIS_PROFILE=thorough pytest

No profile has a deadline: how long an example takes is not what the tests
check. A property that is heavy may ask for fewer examples with its own
@settings, saying why.

Every op test runs on 'cpu' (NumPy) and on 'gpu'. Without CuPy and a CUDA
device, 'gpu' is minigrad.testing.fake_cupy: a CPU stand-in whose arrays
refuse NumPy functions and implicit conversion, so any NumPy call that leaks
onto a device array fails the test.
"""
import pytest
from helpers import use_our_profiles

from minigrad import backend
from minigrad.testing import fake_cupy

use_our_profiles()


def _gpu_module():
    """Real CuPy when it works here, else the stand-in."""
    try:
        return backend.gpu_module()
    except backend.GPUUnavailableError:
        return fake_cupy


backend.set_gpu_module(_gpu_module())


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Caches go to a temporary folder, never into the real ~/.cache/minigrad."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield
