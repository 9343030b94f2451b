"""``train --recipe`` with today's recipes: every ingredient in the run, recorded, resumable.

The ingredients themselves are compared with torchvision's and timm's in
tests/test_recipe_ingredients.py, test_trivial_augment.py,
test_rand_augment.py and test_erasing.py; here they run together through
the command line on a small folder of photographs, and the epoch order of
repeated augmentation is checked against timm's sampler's lists.
"""

import json

import numpy as np
import pytest

from keras_resnet import cli
from keras_resnet.data import repeated
from keras_resnet.training import recipes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two classes of 12 JPEG crops, one photograph each (realistic JPEGs, 48 to 64 px)."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name, photo in zip(("china", "flower"), load_sample_images().images):
        (root / name).mkdir()
        for i in range(12):
            side = int(rng.integers(48, 65))
            top, left = rng.integers(0, photo.shape[0] - 200), rng.integers(0, photo.shape[1] - 200)
            crop = Image.fromarray(photo[top:top + 200, left:left + 200]).resize((side, side))
            crop.save(root / name / f"{i}.jpg", quality=90)
    return root


def _train(photos, run_dir, recipe, *extra):
    return cli.main([
        "train", "--data", str(photos), "--recipe", recipe, "--model", "resnet18",
        "--weights", "none", "--epochs", "2", "--batch-size", "4", "--run-dir", str(run_dir),
        "--verbose", "0", *extra,
    ])


@pytest.mark.backend_agnostic
def test_torchvision_v2_trains_with_every_ingredient(photos, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert _train(photos, run_dir, "torchvision-v2", "--image-size", "32") == 0
    out = capsys.readouterr().out
    settings = json.load(open(run_dir / "run.json"))["recipe_settings"]
    # The whole recipe is recorded, with the command line's changes: FixRes's sizes keep
    # their ratios to the training size (176 / 224 / 232 at 32 px: 41 of 42).
    expected = recipes.get("torchvision-v2").replace(
        epochs=2, batch_size=4, image_size=32).settings()
    assert settings == json.loads(json.dumps(expected))
    assert (settings["eval_size"], settings["eval_resize"]) == (41, 42)
    assert (settings["augment"], settings["mix_partner"]) == ("ta_wide", "roll")
    # The moving average is kept per epoch and scored at the end.
    assert (run_dir / "ema.npz").exists() and (run_dir / "ema.weights.h5").exists()
    assert "moving average of the weights (ema.weights.h5): val accuracy" in out
    # Repeated augmentation keeps the epoch's length (21 training images, 5 steps of 4).
    log = open(run_dir / "log.csv").read().splitlines()
    assert len(log) == 3
    # The run evaluates where the recipe does: 41 px crops of a 42 px side.
    assert cli.main(["evaluate", "--run-dir", str(run_dir), "--data", str(photos)]) == 0
    assert "centre top-1 accuracy" in capsys.readouterr().out


@pytest.mark.backend_agnostic
def test_rsb_a2_trains_with_randaugment_bce_lamb_and_drop_path(photos, tmp_path, capsys):
    import keras

    run_dir = tmp_path / "run"
    assert _train(photos, run_dir, "rsb-a2", "--image-size", "32") == 0
    settings = json.load(open(run_dir / "run.json"))["recipe_settings"]
    assert settings["augment"] == "rand-m7-mstd0.5-inc1" and settings["drop_path"] == 0.05
    assert settings["loss"] == "binary_cross_entropy" and settings["optimizer"] == "lamb"
    # Trained on logits; the weights are a softmax classifier's, as predict reads them.
    capsys.readouterr()
    assert cli.main(["predict", "--run-dir", str(run_dir), str(next(photos.rglob("*.jpg")))]) == 0
    ranked = capsys.readouterr().out.splitlines()[1:]  # "  1. china   0.5123", one per class
    scores = [float(line.split()[2]) for line in ranked]
    assert len(scores) == 2
    assert abs(sum(scores) - 1) < 1e-3
    keras.backend.clear_session()


def test_the_moving_average_resumes_from_its_file_and_restarts_when_out_of_step(tmp_path, capsys):
    import keras

    from keras_resnet.training import ema

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = str(tmp_path / "ema.npz")
    first = ema.ExponentialMovingAverage(0.5, every=1, path=path)
    first.set_model(model)
    first.on_train_begin()
    for epoch in range(2):
        first.on_epoch_begin(epoch)
        first.on_train_batch_end(0)
        model.layers[0].kernel.assign(model.layers[0].kernel + 1.0)
        first.on_epoch_end(epoch)
    # A resumed run (after epoch 2) reads the average back as it was.
    again = ema.ExponentialMovingAverage(0.5, every=1, path=path)
    again.set_model(model)
    again.on_train_begin()
    again.on_epoch_begin(2)
    assert again.updates == first.updates == 2
    for saved, kept in zip(first.average, again.average):
        np.testing.assert_array_equal(saved, kept)
    # A file of another epoch (the crash fell between the checkpoint and it) restarts it.
    late = ema.ExponentialMovingAverage(0.5, every=1, path=path)
    late.set_model(model)
    late.on_train_begin()
    late.on_epoch_begin(3)
    assert late.average is None and late.updates == 0
    assert "the average restarts" in capsys.readouterr().out


def test_a_recipe_with_stochastic_depth_refuses_a_network_without_it(photos, tmp_path, capsys):
    status = cli.main([
        "train", "--data", str(photos), "--recipe", "rsb-a2", "--model", "densenet121",
        "--weights", "none", "--run-dir", str(tmp_path / "run"),
    ])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.count("\n") == 0
    assert "stochastic depth" in err and "--drop-path 0" in err


def test_repeated_order_gives_each_replica_timms_list():
    # Two replicas under one input pipeline: replica r's slice of each global batch is
    # worker r's list of timm's RepeatAugSampler (epoch_indices, compared with timm's).
    order = repeated.global_order(600, repeats=3, num_replicas=2, batch_size=8, seed=5, epoch=1)
    lists = [repeated.epoch_indices(600, repeats=3, rank=r, num_replicas=2, seed=5, epoch=1)
             for r in range(2)]
    batches = order.reshape(-1, 2, 4)
    for r in range(2):
        assert batches[:, r].reshape(-1).tolist() == lists[r][:batches.shape[0] * 4].tolist()
    assert repeated.epoch_length(600, repeats=3, num_replicas=2) == 512


def test_repeated_order_dataset_changes_each_epoch_and_keeps_its_length():
    ds = repeated.order_dataset(300, repeats=3, batch_size=8, seed=1)
    first, second = [np.array(list(ds.as_numpy_iterator())) for _ in range(2)]
    assert len(first) == len(second) == int(ds.cardinality()) == 256
    assert first.tolist() != second.tolist()
    # Each image's copies come together (one replica), three at a time.
    assert (first[:255].reshape(-1, 3) == first[:255].reshape(-1, 3)[:, :1]).all()
