"""minigrad.checkpoint: save/load of state dicts as .npz (atomic, never pickled)
and training checkpoints (model, optimizer, random generator, meta)."""
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from helpers import DEVICES, on

import minigrad
from minigrad import backend, fileio, models, nn, optim
from minigrad.checkpoint import load, load_checkpoint, load_meta, save, save_checkpoint


def small_net():
    minigrad.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))


def trained(model, steps=3):
    """``model`` and an Adam that has taken ``steps`` steps on it."""
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
        loss = minigrad.functional.cross_entropy(model(on(model[0].weight.device, x, False)),
                                                 np.array([0, 2]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, optimizer


# ----- save and load ---------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_save_and_load_round_trip_names_values_and_dtypes(device, tmp_path):
    rng = np.random.default_rng(1)
    state = {
        "0.weight": rng.standard_normal((4, 3, 2)).astype(np.float32),
        "transposed": rng.standard_normal((3, 5)).T,              # not contiguous
        "reversed": np.arange(10, dtype=np.int64)[::-2],          # negative strides
        "scalar": np.float64(2.5), "flag": np.array(True), "empty": np.zeros((0, 3), np.uint8),
        "file": np.ones(2),                                       # numpy.savez's own argument name
        "a/b.c": np.array([1, 2], np.int32),
        "tensor": on(device, np.ones((2, 2), np.float32)),        # a Tensor, on the device
        "device array": backend.to_device(np.full(3, 7.0), device),
    }
    save(state, tmp_path / "state.npz")
    loaded = load(tmp_path / "state.npz")
    assert list(loaded) == list(state)
    for name, value in state.items():
        expected = value.numpy() if isinstance(value, minigrad.Tensor) else \
            np.asarray(backend.to_device(value, "cpu") if backend.is_array(value) else value)
        assert isinstance(loaded[name], np.ndarray), name
        assert loaded[name].dtype == expected.dtype and loaded[name].shape == expected.shape, name
        np.testing.assert_array_equal(loaded[name], expected, err_msg=name)
    with np.load(tmp_path / "state.npz", allow_pickle=False) as plain:  # an ordinary .npz
        np.testing.assert_array_equal(plain["a/b.c"], [1, 2])


def test_a_saved_model_state_loads_into_a_fresh_model(tmp_path):
    model, _ = trained(small_net())
    save(model.state_dict(), tmp_path / "model.npz")
    fresh = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    fresh.load_state_dict(load(tmp_path / "model.npz"))
    for (name, a), b in zip(model.state_dict().items(), fresh.parameters()):
        np.testing.assert_array_equal(a, b.numpy(), err_msg=name)


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "state.npz"
    save({"x": np.arange(3)}, path)
    before = path.read_bytes()
    calls = []

    def write_then_fail(member, array, allow_pickle):
        calls.append(array)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return original(member, array, allow_pickle=allow_pickle)

    original = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save({"x": np.arange(5), "y": np.arange(4)}, path)
    assert len(calls) == 2  # the failure came in the middle of the new file
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["state.npz"]


@pytest.mark.parametrize("value, message", [
    (np.array([{"a": 1}], dtype=object), "'bad' is an array of Python objects"),
    (None, "'bad' is an array of Python objects"),
])
def test_save_refuses_what_would_need_pickle_and_writes_nothing(value, message, tmp_path):
    with pytest.raises(TypeError, match=message):
        save({"good": np.ones(2), "bad": value}, tmp_path / "state.npz")
    assert not (tmp_path / "state.npz").exists()
    with pytest.raises(TypeError, match="names must be strings, got 3"):
        save({3: np.ones(2)}, tmp_path / "state.npz")


class Exploit:
    """Unpickling this runs code: it creates the file named in ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_never_unpickles(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "pickled.npz"
    np.savez(path, weights=np.ones(2), payload=np.array([Exploit(marker)], dtype=object))
    with pytest.raises(ValueError, match="'payload' is refused.*never unpickles"):
        load(path)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(ValueError, match="raw.pkl: not an .npz file"):
        load(raw)
    assert not marker.exists()


def test_load_names_the_file_and_what_is_wrong(tmp_path):
    good = tmp_path / "good.npz"
    save({"w": np.arange(1000.0), "v": np.arange(1000.0)}, good)
    cases = {
        "empty.npz": b"",
        "truncated.npz": good.read_bytes()[:600],
        "text.npz": b"hello\n",
    }
    for name, payload in cases.items():
        (tmp_path / name).write_bytes(payload)
        with pytest.raises(ValueError, match=f"{name}: not an .npz file"):
            load(tmp_path / name)
    np.save(tmp_path / "bare.npy", np.ones(3))
    with pytest.raises(ValueError, match="bare.npy: holds one bare array"):
        load(tmp_path / "bare.npy")
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="model.pt: .* is not a NumPy array .*PyTorch"):
        load(tmp_path / "model.pt")
    damaged = tmp_path / "damaged.npz"
    payload = bytearray(good.read_bytes())
    payload[200:260] = bytes(60)  # inside the first member's data: its checksum fails
    damaged.write_bytes(bytes(payload))
    with pytest.raises(ValueError, match="damaged.npz: 'w' is damaged"):
        load(damaged)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


# ----- checkpoints -----------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_a_checkpoint_restores_model_optimizer_meta_and_generator(device, tmp_path):
    model, optimizer = trained(small_net().to(device))
    rng = np.random.default_rng(42)
    rng.standard_normal(5)  # a generator part-way through its stream
    meta = {"epoch": 3, "metrics": {"loss": [0.5, 0.25], "finished": False}, "note": "é"}
    save_checkpoint(tmp_path / "checkpoint.npz", model, optimizer, rng=rng, meta=meta)
    expected_draws = rng.standard_normal(4)

    fresh = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)).to(device)
    fresh_optimizer = optim.Adam(fresh.parameters(), lr=5.0)
    loaded_meta, loaded_rng = load_checkpoint(tmp_path / "checkpoint.npz", fresh, fresh_optimizer)
    assert loaded_meta == meta == load_meta(tmp_path / "checkpoint.npz")
    np.testing.assert_array_equal(loaded_rng.standard_normal(4), expected_draws)
    assert fresh_optimizer.param_groups[0]["lr"] == 1e-2
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[name], value, err_msg=name)
    # Training continues identically from the restored state.
    for net, opt in ((model, optimizer), (fresh, fresh_optimizer)):
        x = np.ones((2, 1, 4, 4), np.float32)
        loss = minigrad.functional.cross_entropy(net(on(device, x, False)), np.array([1, 1]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[name], value, err_msg=name)


def test_a_checkpoint_without_generator_or_optimizer(tmp_path):
    model = small_net()
    save_checkpoint(tmp_path / "c.npz", model)
    meta, rng = load_checkpoint(tmp_path / "c.npz", small_net())
    assert meta == {} and rng is None
    with pytest.raises(ValueError, match="c.npz: holds no optimizer state"):
        load_checkpoint(tmp_path / "c.npz", small_net(), optim.Adam(small_net().parameters()))


def test_load_checkpoint_refuses_what_is_not_a_fitting_checkpoint(tmp_path):
    model, optimizer = trained(small_net())
    save(model.state_dict(), tmp_path / "model.npz")
    with pytest.raises(ValueError, match="model.npz: not a checkpoint.*minigrad.load"):
        load_checkpoint(tmp_path / "model.npz", small_net())
    with pytest.raises(ValueError, match="model.npz: not a checkpoint"):
        load_meta(tmp_path / "model.npz")
    save_checkpoint(tmp_path / "checkpoint.npz", model, optimizer, meta={"epoch": 1})
    other = models.fixed_res_cnn()
    with pytest.raises(ValueError, match="checkpoint.npz: load_state_dict into Sequential: "
                                         "missing '6.weight'"):
        load_checkpoint(tmp_path / "checkpoint.npz", other, optim.Adam(other.parameters()))
    wider = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3),
                          nn.Linear(3, 3))
    with pytest.raises(ValueError, match="checkpoint.npz: .*missing '4.weight'"):
        load_checkpoint(tmp_path / "checkpoint.npz", wider)


def test_load_checkpoint_refuses_non_finite_weights_and_changes_nothing(tmp_path):
    model, optimizer = trained(small_net())
    model[3].bias.data[1] = np.nan
    save_checkpoint(tmp_path / "checkpoint.npz", model, optimizer)
    target = small_net()
    before = target.state_dict()
    with pytest.raises(ValueError, match=r"checkpoint.npz: '3\.bias' of the model holds 1 NaN"):
        load_checkpoint(tmp_path / "checkpoint.npz", target)
    for name, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_load_checkpoint_refuses_a_non_finite_weight_average_or_optimizer_state(tmp_path):
    """Every array a checkpoint holds is checked before it is trusted: the weight
    average (--ema) and Adam's state too, each named."""
    from minigrad.training import ExponentialMovingAverage
    model, optimizer = trained(small_net())
    average = ExponentialMovingAverage(model, 0.9)
    next(iter(average.state_dict().values()))[...] = np.inf
    save_checkpoint(tmp_path / "checkpoint.npz", model, optimizer, extras={"average": average})
    with pytest.raises(ValueError, match=r"of the average holds \d+ NaN or infinite"):
        load_checkpoint(tmp_path / "checkpoint.npz", small_net(), None,
                        {"average": ExponentialMovingAverage(small_net(), 0.9)})


def test_a_damaged_meta_record_is_named(tmp_path):
    model = small_net()
    state = {f"model/{name}": value for name, value in model.state_dict().items()}
    state["meta"] = np.frombuffer(b"{not json", dtype=np.uint8)
    save(state, tmp_path / "checkpoint.npz")
    with pytest.raises(ValueError, match="checkpoint.npz: its 'meta' record is damaged"):
        load_meta(tmp_path / "checkpoint.npz")


def test_checkpoints_are_written_through_the_one_atomic_writer(tmp_path, monkeypatch):
    written = []
    original = fileio.atomic_write

    def recording(path, *args, **kwargs):
        written.append(os.fspath(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(minigrad.checkpoint, "atomic_write", recording)
    save_checkpoint(tmp_path / "checkpoint.npz", small_net())
    assert written == [os.fspath(tmp_path / "checkpoint.npz")]
    assert zipfile.is_zipfile(tmp_path / "checkpoint.npz")


# ----- issue 21: a failed write names the user's file ------------------------------------------

@pytest.mark.parametrize("case, reason", [("folder missing", "No such file or directory"),
                                          ("folder is a file", "Not a directory"),
                                          ("target is a folder", "Is a directory"),
                                          ("disk full", "No space left on device")])
def test_a_failed_save_names_the_users_file_never_the_hidden_temporary_one(case, reason, tmp_path,
                                                                          monkeypatch):
    """Before: '[Errno 2] No such file or directory: '.../.model.npz.tmp-minigrad-PID'', or,
    for a full disk, no file at all."""
    target = {"folder missing": tmp_path / "gone" / "model.npz",
              "folder is a file": tmp_path / "notes.txt" / "model.npz",
              "target is a folder": tmp_path / "model.npz",
              "disk full": tmp_path / "model.npz"}[case]
    (tmp_path / "notes.txt").write_text("mine")
    if case == "target is a folder":
        target.mkdir()
    if case == "disk full":
        def full(descriptor):
            raise OSError(28, os.strerror(28))
        monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as caught:
        save({"w": np.ones(3)}, target)
    assert str(caught.value) == f"[Errno {caught.value.errno}] {reason}: '{target}'"
    assert caught.value.filename == str(target) and caught.value.filename2 is None
    assert sorted(os.listdir(tmp_path)) == sorted(["notes.txt"] + (["model.npz"] if case ==
                                                                   "target is a folder" else []))


def test_a_meta_record_that_is_not_json_is_one_clear_error_and_writes_nothing(tmp_path):
    """Before: 'Object of type float32 is not JSON serializable', naming no function."""
    with pytest.raises(TypeError, match=r"save_checkpoint: meta must be JSON data \(dicts, .*\): "
                                        "Object of type float32 is not JSON serializable"):
        save_checkpoint(tmp_path / "c.npz", small_net(), meta={"loss": np.float32(1.5)})
    assert not (tmp_path / "c.npz").exists()
