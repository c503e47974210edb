"""A float32 training step stays float32: no silent promotion to float64.

test_models.py checks every parameter, gradient and optimizer buffer after a
step. Here, on the stand-in GPU module, we go further: it logs the dtype of
every device array created during the step, so a single float64 temporary
anywhere fails. And a float64 input is not silently promoted: as in PyTorch,
it is an error naming both dtypes.
"""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import backend, models, optim
from minigrad.testing import fake_cupy

NETWORKS = [
    ("fixed", models.fixed_res_cnn, 28),
    ("varres-max", lambda: models.var_res_cnn(pooling="max"), 48),
    ("varres-mean", lambda: models.var_res_cnn(pooling="mean"), 32),
]
OPTIMIZERS = [("adam", lambda p: optim.Adam(p, weight_decay=1e-4)),
              ("sgd", lambda p: optim.SGD(p, lr=0.01, momentum=0.9))]


def training_step(model, opt, device, size, loss="ce"):
    rng = np.random.default_rng(0)
    x = minigrad.tensor(rng.random((4, 1, size, size), dtype=np.float32), device=device)
    labels = np.array([0, 3, 7, 9])
    logits = model(x)
    if loss == "ce":
        value = F.cross_entropy(logits, labels)
    else:
        xp = backend.module_for(device)
        value = F.binary_cross_entropy_with_logits(logits, F.one_hot(labels, 10, xp))
    opt.zero_grad()
    value.backward()
    opt.step()
    return value


@pytest.mark.parametrize("name,factory,size", NETWORKS)
@pytest.mark.parametrize("opt_name,make_opt", OPTIMIZERS)
@pytest.mark.parametrize("loss", ["ce", "bce"])
def test_no_float64_array_is_ever_created(name, factory, size, opt_name, make_opt, loss):
    if backend.gpu_module() is not fake_cupy:
        pytest.skip("the dtype log exists in the CuPy stand-in only")
    model = factory().to("gpu")
    opt = make_opt(model.parameters())
    with fake_cupy.record_dtypes() as dtypes:
        for _ in range(2):
            training_step(model, opt, "gpu", size, loss)
    assert dtypes, "the step made no device arrays: the test would prove nothing"
    assert np.dtype(np.float64) not in set(dtypes)


def test_the_dtype_log_sees_a_float64_leak():
    """The guard itself can fail: a float64 temporary is noticed."""
    x = minigrad.tensor(np.ones(3, np.float32), device="gpu")
    with fake_cupy.record_dtypes() as dtypes:
        _ = x.data * np.float64(2.0) + fake_cupy.asarray(np.ones(3))  # float64 on purpose
    assert np.dtype(np.float64) in set(dtypes)


@pytest.mark.parametrize("name,factory,size", NETWORKS)
def test_a_float64_input_into_a_float32_network_is_an_error_naming_both_dtypes(name, factory,
                                                                               size):
    x = minigrad.tensor(np.zeros((2, 1, size, size)), dtype=np.float64)
    with pytest.raises(TypeError, match="conv2d: the input is float64 but the weight is float32"):
        factory()(x)
