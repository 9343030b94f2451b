"""A folder of one's own photos trains with the defaults: fine-tuning, or a small net from scratch.

The photos are scikit-learn's two real photographs, cut into crops and saved
as JPEG: a small folder of the kind users bring.
"""

import hashlib
import json
import os

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import cli, training
from keras_resnet.training import defaults, recipes
from keras_resnet.weights import registry
from conftest import requires_tensorflow


def _photo_folder(root, per_class=30, seed=0):
    """Two classes (the two photographs), ``per_class`` random crops of each, as JPEG."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    for photo, name in zip(load_sample_images().images, ("china", "flower")):
        (root / name).mkdir(parents=True)
        height, width = photo.shape[:2]
        for i in range(per_class):
            side = int(rng.integers(160, 300))
            top, left = rng.integers(0, height - side), rng.integers(0, width - side)
            crop = photo[top : top + side, left : left + side]
            Image.fromarray(crop).save(root / name / f"{i}.jpg", quality=90)
    return root


def _never(model):
    raise AssertionError("the plan asked for pretrained weights it did not need")


@pytest.mark.parametrize(
    "num_train, expected",
    [(54, 8), (1257, 32), (16, 4), (3, 4), (100_000, 32)],
)
def test_batch_size_fits_the_data(num_train, expected):
    # At least four steps an epoch, a power of two, never above the recipe's.
    assert defaults.fitted_batch_size(num_train, 32) == expected


def test_small_folder_with_weights_is_fine_tuned():
    plan = defaults.plan_folder_run(
        54, recipe_batch_size=lambda name: recipes.get(name).batch_size,
        pretrained_problem=lambda model: None,
    )
    assert (plan.model, plan.recipe, plan.weights, plan.batch_size) == (
        "resnet50", "finetune", "imagenet", 8,
    )
    assert "batch size 8" in plan.note


def test_small_folder_without_weights_says_so_and_trains_a_small_net():
    plan = defaults.plan_folder_run(
        54, recipe_batch_size=lambda name: recipes.get(name).batch_size,
        pretrained_problem=lambda model: "cannot reach the server",
    )
    assert (plan.model, plan.recipe, plan.weights) == ("small-resnet", "small-data", None)
    assert "no pretrained weights for resnet50 (cannot reach the server)" in plan.note


def test_large_folders_and_the_users_choices_keep_their_recipes():
    batch = lambda name: recipes.get(name).batch_size  # noqa: E731
    large = defaults.plan_folder_run(500_000, recipe_batch_size=batch, pretrained_problem=_never)
    assert (large.model, large.recipe, large.weights, large.note) == (
        "resnet50", "imagenet", None, None,
    )
    chosen = defaults.plan_folder_run(
        54, model="resnet18", recipe="cifar", batch_size=2, recipe_batch_size=batch,
        pretrained_problem=_never,
    )
    assert (chosen.model, chosen.recipe, chosen.weights, chosen.batch_size) == (
        "resnet18", "cifar", None, 2,
    )


def test_shorter_runs_keep_the_frozen_phase_in_proportion():
    finetune = recipes.get("finetune")
    assert finetune.replace(epochs=3).frozen_epochs == 1
    assert finetune.replace(epochs=24).frozen_epochs == 8
    assert finetune.replace(epochs=1).frozen_epochs == 0
    with pytest.raises(ValueError, match="frozen_epochs"):
        finetune.replace(frozen_epochs=12)


@pytest.mark.backend_agnostic
def test_backbone_waits_then_learns_at_its_factor():
    # Plain SGD (no momentum, no decay): each step moves w by -lr * scale * grad.
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, name="backbone")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(hidden))
    optimizer = training.SGD(0.1, head_only_steps=2, backbone_lr_factor=0.5)
    model.compile(optimizer, "mse")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.ones((8, 2), "float32")
    start = model.get_layer("backbone").get_weights()[0]

    model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # two steps: the head alone
    after_two = model.get_layer("backbone").get_weights()[0]
    np.testing.assert_array_equal(after_two, start)
    assert not np.allclose(model.get_layer("predictions").get_weights()[0], 0)

    # The gradient of step three by hand: out = (x W1 + b1) W2 + b2, mean squared error.
    w1, b1 = model.get_layer("backbone").get_weights()
    w2, b2 = model.get_layer("predictions").get_weights()
    hidden = x @ w1 + b1
    d_out = 2 * (hidden @ w2 + b2 - y) / y.size
    grad = x.T @ (d_out @ w2.T)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    moved = model.get_layer("backbone").get_weights()[0] - after_two
    np.testing.assert_allclose(moved, -0.1 * 0.5 * grad, rtol=1e-4, atol=1e-7)


@requires_tensorflow
def test_fine_tuning_keeps_batchnorm_statistics():
    model = keras_resnet.ResNet18(weights=None, input_shape=(32, 32, 3), classes=2)
    bn = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    before = [layer.get_weights() for layer in bn]
    training.compile_model(model, recipes.get("finetune"), batch_size=4, steps_per_epoch=2)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    model.fit(x, keras.utils.to_categorical(np.arange(8) % 2, 2), batch_size=4, verbose=0)
    assert all(not layer.trainable for layer in bn)
    for layer, weights in zip(bn, before):
        for new, old in zip(layer.get_weights(), weights):
            np.testing.assert_array_equal(new, old)


@requires_tensorflow
@pytest.mark.slow
def test_small_photo_folder_without_network_trains_a_small_net(tmp_path, capsys, monkeypatch):
    # What a laptop without network sees: the plan says so in one line and
    # trains what can be trained; validation loss stays sane.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("KERAS_RESNET_WEIGHTS_URL", "http://127.0.0.1:9/")
    data = _photo_folder(tmp_path / "photos")
    run_dir = tmp_path / "run"
    status = cli.main(["train", "--data", str(data), "--epochs", "4", "--run-dir", str(run_dir)])
    out = capsys.readouterr().out
    assert status == 0
    note = [line for line in out.splitlines() if line.startswith("train: ")]
    assert len(note) == 1 and "no pretrained weights for resnet50" in note[0], out
    assert "training small-resnet from scratch" in note[0] and "batch size 8" in note[0]
    run = json.loads((run_dir / "run.json").read_text())
    assert (run["model"], run["recipe"], run["batch_size"]) == ("small-resnet", "small-data", 8)
    log = training.read_log(str(run_dir / "log.csv"))
    assert len(log) == 4
    assert all(np.isfinite(float(row["val_loss"])) and float(row["val_loss"]) < 10 for row in log)


@requires_tensorflow
@pytest.mark.slow
def test_small_photo_folder_with_weights_is_fine_tuned(tmp_path, capsys, monkeypatch):
    # A registered ImageNet-style backbone (ResNet-18 with weights saved here,
    # served from disk) stands in for the published ResNet-50 file.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(defaults, "FINETUNE_MODEL", "resnet18")
    backbone = keras_resnet.ResNet18(weights=None, include_top=False)
    rng = np.random.default_rng(0)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma, beta, rng.normal(0, 0.1, mean.shape), var + 0.5])
    path = tmp_path / "r18_notop.weights.h5"
    backbone.save_weights(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    keras_resnet.register_weights(
        "resnet18", "imagenet", url=path.as_uri(), file_hash=digest, include_top=False
    )
    try:
        data = _photo_folder(tmp_path / "photos")
        run_dir = tmp_path / "run"
        argv = ["train", "--data", str(data), "--epochs", "3", "--image-size", "64",
                "--run-dir", str(run_dir)]
        assert cli.main(argv) == 0
    finally:
        registry.unregister_weights("resnet18", "imagenet", include_top=False)
    run = json.loads((run_dir / "run.json").read_text())
    assert (run["model"], run["recipe"]) == ("resnet18", "finetune")
    tuned = training.build_model("resnet18", classes=2, image_size=64)
    tuned.load_weights(os.path.join(run_dir, "final.weights.h5"))
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # BatchNorm kept the pretrained statistics through fine-tuning.
            for new, old in zip(tuned.get_layer(layer.name).get_weights(), layer.get_weights()):
                np.testing.assert_allclose(new, old, rtol=1e-6)
    conv = "conv2_block1_1_conv"
    assert not np.allclose(tuned.get_layer(conv).get_weights()[0], backbone.get_layer(conv).get_weights()[0])
