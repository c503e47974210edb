"""examples/experiments.py: the seeds mode (runs per seed, their spread) and the
resolutions mode (a varres run's test accuracy at sizes it never saw).

The seeds summary is checked on tiny fake run folders (metrics.json only), with
figures whose mean and standard deviation are known by hand.
"""
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest
from datafiles import real_data_dir

import minigrad
from minigrad import Tensor, data, models
from minigrad import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import experiments  # noqa: E402  (examples/ is no package)
import mnist_data  # noqa: E402
import mnist_settings  # noqa: E402


def fake_run(folder, seed, test, val=0.99, minutes=8.0, finished=True, by_resolution=None,
             **settings):
    """A run folder holding only the metrics.json a finished train_mnist.py run writes."""
    args = {**mnist_settings.DEFAULTS, "seed": seed, "out": str(folder), **settings}
    metrics = {"command": f"python examples/train_mnist.py --seed {seed} --out {folder}",
               "args": args, "val_accuracy": [0.5, val], "seconds": 60 * minutes,
               "finished": finished}
    if finished:
        metrics["test_accuracy"] = test
    if by_resolution:
        metrics["test_accuracy_by_resolution"] = by_resolution
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))


def summarise(out):
    code = experiments.main(["seeds", "--out", str(out), "--summarise"])
    return code, json.loads((out / "seeds.json").read_text()) if code == 0 else None


def test_seeds_summary_gives_mean_sd_and_range_of_the_finished_runs(tmp_path, capsys):
    for seed, test, val in [(0, 0.9931, 0.9920), (1, 0.9925, 0.9914), (2, 0.9937, 0.9926)]:
        fake_run(tmp_path / f"seed{seed}", seed, test, val, minutes=6 + seed)
    fake_run(tmp_path / "seed3", 3, None, finished=False)   # still training: left out
    code, summary = summarise(tmp_path)
    assert code == 0
    assert "seed3: not finished, left out" in capsys.readouterr().out
    assert summary["seeds"] == [0, 1, 2]
    test = summary["test_accuracy"]
    assert test["n"] == 3
    assert test["mean"] == pytest.approx(0.9931, abs=1e-12)
    assert test["sd"] == pytest.approx(0.0006, abs=1e-12)   # sample sd, n - 1
    assert (test["min"], test["max"]) == (0.9925, 0.9937)
    assert summary["val_accuracy"]["mean"] == pytest.approx(0.9920, abs=1e-12)
    assert summary["minutes"]["mean"] == pytest.approx(7.0)
    table = (tmp_path / "seeds.md").read_text()
    assert "| test accuracy | 99.31 ± 0.06 | 99.25 – 99.37 | 99.31 / 99.25 / 99.37 |" in table
    assert "| validation accuracy, last epoch | 99.20 ± 0.06 |" in table
    assert "| minutes | 7.0 ± 1.0 | 6.0 – 8.0 | 6.0 / 7.0 / 8.0 |" in table


def test_seeds_summary_per_resolution(tmp_path):
    figures = [{"32": 0.990, "48": 0.985, "64": 0.995}, {"32": 0.992, "48": 0.989, "64": 0.991}]
    for seed, by_resolution in enumerate(figures):
        fake_run(tmp_path / f"seed{seed}", seed, 0.99, model="varres",
                 by_resolution=by_resolution)
    code, summary = summarise(tmp_path)
    assert code == 0
    for size in ("32", "48", "64"):
        values = [figure[size] for figure in figures]
        entry = summary["test_accuracy_by_resolution"][size]
        assert entry["mean"] == pytest.approx(statistics.mean(values), abs=1e-12)
        assert entry["sd"] == pytest.approx(statistics.stdev(values), abs=1e-12)
    assert "| test accuracy, 48 px | 98.70 ± 0.28 | 98.50 – 98.90 | 98.50 / 98.90 |" in \
        (tmp_path / "seeds.md").read_text()


def test_one_seed_has_no_standard_deviation(tmp_path):
    fake_run(tmp_path / "seed4", 4, 0.99)
    code, summary = summarise(tmp_path)
    assert code == 0 and summary["test_accuracy"]["sd"] is None
    assert "| test accuracy | 99.00 | 99.00 – 99.00 | 99.00 |" in (tmp_path / "seeds.md").read_text()


def test_runs_of_other_settings_are_not_averaged(tmp_path, capsys):
    fake_run(tmp_path / "seed0", 0, 0.99)
    fake_run(tmp_path / "seed1", 1, 0.99, lr=1e-3)
    fake_run(tmp_path / "seed2", 2, 0.99, device="gpu", log_every=7)   # same training
    code, _ = summarise(tmp_path)
    assert code == 2
    error = capsys.readouterr().err
    assert "seed1" in error and "lr 0.003 vs 0.001" in error
    assert not (tmp_path / "seeds.json").exists()


def test_a_folder_holding_another_seed_is_refused(tmp_path, capsys):
    fake_run(tmp_path / "seed0", 0, 0.99)
    fake_run(tmp_path / "seed1", 0, 0.98)   # a copy of seed 0 would count twice
    assert summarise(tmp_path)[0] == 2
    assert "seed1 holds the run of seed 0" in capsys.readouterr().err


def test_nothing_finished_is_an_error(tmp_path, capsys):
    fake_run(tmp_path / "seed0", 0, None, finished=False)
    assert summarise(tmp_path)[0] == 2
    assert "no finished run in" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--seed", "--out=x", "--resume"])
def test_seed_out_and_resume_belong_to_the_seeds_mode(tmp_path, option, capsys):
    with pytest.raises(SystemExit) as stopped:
        experiments.main(["seeds", "--out", str(tmp_path), "--", "--model", "fixed", option, "1"])
    assert stopped.value.code == 2
    assert f"{option.split('=')[0]} after --" in capsys.readouterr().err


def test_a_finished_run_is_reused_only_with_the_same_settings(tmp_path, capsys):
    fake_run(tmp_path / "seed0", 0, 0.9931)
    assert experiments.train_seed(tmp_path, 0, ["--model", "fixed"]) == 0   # trains nothing
    assert "finished earlier" in capsys.readouterr().out
    assert experiments.train_seed(tmp_path, 0, ["--lr", "0.001"]) == 2
    assert "lr 0.003 vs 0.001" in capsys.readouterr().err


# ------------------------------------------------------------- resolutions ---

def saved_varres_run(folder, seed=0):
    """A finished-looking varres run whose model.npz holds freshly initialised weights."""
    fake_run(folder, seed, 0.1, model="varres")
    minigrad.manual_seed(seed)
    model = models.var_res_cnn()
    minigrad.save(model.state_dict(), folder / "model.npz")
    return model


def test_resolutions_refuse_runs_that_are_not_varres(tmp_path, capsys):
    fake_run(tmp_path / "fixed", 0, 0.99)
    fake_run(tmp_path / "stopped", 0, None, finished=False, model="varres")
    for name, message in [("fixed", "a --model fixed run"), ("stopped", "no finished")]:
        assert experiments.main(["resolutions", str(tmp_path / name)]) == 2
        assert message in capsys.readouterr().err


def test_resolutions_evaluate_the_resized_test_images(tmp_path):
    folder = tmp_path / "seed0"
    model = saved_varres_run(folder)
    code = experiments.main(["resolutions", str(folder), "--sizes", "20", "40",
                             "--eval-limit", "60", "--data-dir", str(real_data_dir())])
    assert code == 0
    results = json.loads((tmp_path / "resolutions.json").read_text())
    test = data.limit_groups(data.load_varres(real_data_dir(), split="test"), 60,
                             seed=mnist_data.SPLIT_SEED)
    mean, std = mnist_data.NORMALISATION["varres"]
    for size in (20, 40):   # the same figure, computed here in one batch
        (images, labels), = data.resize_groups(test, size).values()
        x = data.to_float(images, np, mean, std)
        logits = model(Tensor(x))
        row = results["accuracy"][f"all resized to {size} px"]
        assert row["runs"] == [float(np.mean(logits.data.argmax(axis=1) == labels))]
        assert row["loss"] == [pytest.approx(float(F.cross_entropy(logits, labels).data),
                                             rel=1e-6)]
    drawn = [name for name in results["accuracy"] if name.startswith("as drawn")]
    assert len(drawn) == len(test)
    small = sum(len(labels) for (height, _), (_, labels) in test.items() if height <= 40)
    assert f"padded to 40 px ({small:,} images)" in results["accuracy"]
    table = (tmp_path / "resolutions.md").read_text()
    assert "| all resized to 40 px |" in table


def test_padding_centres_the_images_that_fit_on_a_background_canvas():
    rng = np.random.default_rng(0)
    small = rng.integers(1, 256, (3, 32, 32), dtype=np.uint8)
    odd = rng.integers(1, 256, (2, 33, 35), dtype=np.uint8)
    large = rng.integers(1, 256, (4, 48, 48), dtype=np.uint8)
    groups = {(32, 32): (small, np.array([1, 2, 3])), (33, 35): (odd, np.array([4, 5])),
              (48, 48): (large, np.zeros(4, dtype=np.int64))}
    (images, labels), = experiments.pad_groups(groups, 40).values()
    assert images.shape == (5, 40, 40) and images.dtype == np.uint8
    assert labels.tolist() == [1, 2, 3, 4, 5]
    assert np.array_equal(images[:3, 4:36, 4:36], small)
    assert np.array_equal(images[3:, 3:36, 2:37], odd)
    mask = np.ones((40, 40), dtype=bool)
    mask[4:36, 4:36] = False
    assert not images[:3][:, mask].any()
    assert experiments.pad_groups({(48, 48): groups[(48, 48)]}, 40) == {}
