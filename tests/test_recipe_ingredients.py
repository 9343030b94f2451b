"""Today's recipes and their ingredients, against the publishers' own code and numbers.

The recipes' settings against the publishers' statements (the table below
names each source); the schedule against torch's ``LinearLR`` +
``CosineAnnealingLR`` (torchvision) and timm's ``CosineLRScheduler``;
MixUp and CutMix against ``torchvision.transforms.v2`` and timm's ``Mixup``;
the binary cross-entropy against timm's; the moving average against torch's
``AveragedModel`` with torchvision's settings; repeated augmentation against
timm's ``RepeatAugSampler``; stochastic depth's per-block rate against
timm's ResNet. torch, torchvision and timm compute their side in a
subprocess (tests/fixtures/torch/recipe_references.py): torch and
TensorFlow in one process can crash.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from keras_resnet.architectures import residual
from keras_resnet.architectures.layers import StochasticDepth
from keras_resnet.data import mixing, repeated
from keras_resnet.training import ema, losses, recipes, schedules

SCRIPT = pathlib.Path(__file__).parent / "fixtures" / "torch" / "recipe_references.py"
CUTMIX_CASES = np.array([(0.3, 8, 5), (0.8, 1, 14), (0.05, 15, 0)])
REPEAT_CASES = np.array([(600, 2), (100, 2), (1000, 3), (300, 1)])
needs_torch = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "torchvision", "timm")),
    reason="needs torch, torchvision and timm",
)


def _batch(seed=0, n=6, size=16, classes=5):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, size, size, 3)).astype("float32")
    labels = rng.integers(0, classes, size=n)
    return images, labels, np.eye(classes, dtype="float32")[labels]


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe_refs")
    images, labels, _ = _batch()
    inputs = dict(
        images=images, labels=labels, lam=np.array(0.37), cutmix_cases=CUTMIX_CASES,
        bce_logits=np.random.default_rng(3).normal(size=(8, 10)).astype("float32"),
        bce_labels=_batch(2, n=8, classes=10)[1], bce_lam=np.array(0.7),
        ema_snapshots=np.random.default_rng(0).normal(size=(3, 5, 8)).astype("float32"),
        repeat_cases=REPEAT_CASES,
    )
    np.savez(folder / "inputs.npz", **inputs)
    subprocess.run([sys.executable, str(SCRIPT), str(folder / "inputs.npz"),
                    str(folder / "refs.npz")], check=True)
    return {**inputs, **dict(np.load(folder / "refs.npz"))}


def _nchw(x):
    return np.asarray(ops.convert_to_numpy(x)).transpose(0, 3, 1, 2)


def _floats(values):
    return [float(ops.convert_to_numpy(v)) for v in values]


_TV2 = ("torchvision references/classification README, ResNet-50 IMAGENET1K_V2 command "
        "(--batch-size 128 on 8 GPUs, --lr 0.5 ... --ra-sampler --ra-reps 4) and train.py's "
        "defaults (--momentum 0.9, --lr-warmup-decay 0.01, --lr-min 0.0, --model-ema-steps 32, "
        "--model-ema-decay 0.99998, --val-crop-size 224)")
_RSB = ("Wightman, Touvron, Jegou 2021, Table 1; timm train.py flags published with it "
        "(--warmup-lr 1e-4, --min-lr 1e-6, --bce-target-thresh 0.2, --crop-pct 0.95, "
        "--reprob 0.0, --aug-repeats 3)")

#: Every published recipe's settings as the sources give them.
PUBLISHED = {
    "torchvision-v2": (_TV2, dict(
        epochs=600, batch_size=1024, optimizer="sgd", lr=0.5, momentum=0.9,
        weight_decay=2e-5, norm_weight_decay=0.0, schedule="cosine", warmup_epochs=5,
        warmup_start_factor=0.01, min_lr=0.0, label_smoothing=0.1, mixup_alpha=0.2,
        cutmix_alpha=1.0, augment="ta_wide", random_erasing=0.1, ema_decay=0.99998,
        ema_every=32, train_size=176, eval_resize=232, eval_size=224,
        repeated_augmentation=4, drop_path=None, loss="cross_entropy")),
    "rsb-a1": (_RSB, dict(
        epochs=600, batch_size=2048, optimizer="lamb", lr=5e-3, momentum=None,
        weight_decay=0.01, norm_weight_decay=0.0, schedule="cosine", warmup_epochs=5,
        warmup_lr=1e-4, min_lr=1e-6, label_smoothing=0.1, mixup_alpha=0.2, cutmix_alpha=1.0,
        augment="rand-m7-mstd0.5-inc1", random_erasing=0.0, ema_decay=None, ema_every=None,
        train_size=224, eval_resize=235, eval_size=224, repeated_augmentation=3,
        drop_path=0.05, loss="binary_cross_entropy", bce_target_threshold=0.2)),
    "rsb-a2": (_RSB, dict(
        epochs=300, batch_size=2048, optimizer="lamb", lr=5e-3, weight_decay=0.02,
        label_smoothing=0.0, mixup_alpha=0.1, cutmix_alpha=1.0,
        augment="rand-m7-mstd0.5-inc1", train_size=224, repeated_augmentation=3,
        drop_path=0.05, loss="binary_cross_entropy")),
    "rsb-a3": (_RSB, dict(
        epochs=100, batch_size=2048, optimizer="lamb", lr=8e-3, weight_decay=0.02,
        label_smoothing=0.0, mixup_alpha=0.1, cutmix_alpha=1.0,
        augment="rand-m6-mstd0.5-inc1", train_size=160, eval_size=224,
        repeated_augmentation=None, drop_path=0.0, loss="binary_cross_entropy")),
}

REQUIRED_KEYS = (
    "epochs batch_size optimizer lr momentum weight_decay norm_weight_decay schedule "
    "warmup_epochs label_smoothing mixup_alpha cutmix_alpha augment random_erasing ema_decay "
    "ema_every train_size eval_resize eval_size repeated_augmentation drop_path loss"
).split()


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_recipes_state_their_sources_settings(name):
    source, expected = PUBLISHED[name]
    settings = recipes.get(name).settings()
    assert {key: settings[key] for key in expected} == expected, source


def test_recipes_show_json_prints_every_setting(capsys):
    from keras_resnet.cli.main import main

    for name in recipes.RECIPES:
        assert main(["recipes", "show", name, "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert set(REQUIRED_KEYS) <= set(shown) and shown["name"] == name
    assert main(["recipes"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in recipes.RECIPES)
    assert main(["recipes", "show", "nonesuch"]) == 2
    assert "unknown recipe 'nonesuch'" in capsys.readouterr().err


def _keras_rates(schedule, epochs, steps_per_epoch):
    """The schedule's rate at the first and last step of each epoch: they must agree."""
    first = [float(schedule(e * steps_per_epoch)) for e in range(epochs)]
    last = [float(schedule(e * steps_per_epoch + steps_per_epoch - 1)) for e in range(epochs)]
    assert first == last
    return first


@needs_torch
def test_cosine_schedule_matches_torchvisions_and_timms(refs):
    schedule = schedules.CosineSchedule(0.5, 14, 3, 5, 0.0, warmup_start_factor=0.01)
    np.testing.assert_allclose(_keras_rates(schedule, 14, 3), refs["torchvision_lr"],
                               rtol=1e-5, atol=1e-9)
    recipe = recipes.get("rsb-a3").replace(epochs=12, warmup_epochs=5)
    schedule = schedules.for_recipe(recipe, batch_size=2048, steps_per_epoch=4)
    np.testing.assert_allclose(_keras_rates(schedule, 12, 4), refs["timm_lr"], rtol=1e-5)
    # The recipe's own numbers: torchvision's lr for another batch scales linearly.
    tv2 = schedules.for_recipe(recipes.get("torchvision-v2"), batch_size=256, steps_per_epoch=1)
    assert tv2.peak == pytest.approx(0.125) and tv2.warmup_start_factor == 0.01


@needs_torch
def test_mixup_matches_timm_and_torchvision(refs):
    images, _, onehot = _batch()
    mixed, targets, _ = mixing.mix(images, onehot, 0.37, convention="flip")
    np.testing.assert_allclose(_nchw(mixed), refs["timm_mixup_images"], atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(targets), refs["timm_mixup_targets"],
                               atol=1e-6)
    mixed, targets, _ = mixing.mix(images, onehot, 0.37, convention="roll")
    np.testing.assert_allclose(_nchw(mixed), refs["tv_mixup_images"], atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(targets), refs["tv_mixup_targets"],
                               atol=1e-6)


@needs_torch
@pytest.mark.parametrize("case", range(len(CUTMIX_CASES)))
def test_cutmix_matches_timm_and_torchvision(refs, case):
    images, _, onehot = _batch()
    lam, center_y, center_x = CUTMIX_CASES[case]
    for library, convention in (("timm", "flip"), ("tv", "roll")):
        box = mixing.cut_box(16, 16, lam, center_y, center_x, convention)
        assert _floats(box) == refs[f"{library}_cutmix_{case}_box"].tolist(), library
        mixed, targets, kept = mixing.mix(images, onehot, lam, box=box, convention=convention)
        np.testing.assert_allclose(_nchw(mixed), refs[f"{library}_cutmix_{case}_images"])
        np.testing.assert_allclose(ops.convert_to_numpy(targets),
                                   refs[f"{library}_cutmix_{case}_targets"], atol=1e-6)
        if library == "timm":
            assert _floats([kept]) == pytest.approx([float(refs[f"timm_cutmix_{case}_lam"])])


def _draws(count, **alphas):
    """``count`` of ``mixing.draw``'s batch draws, made in tf.data as training makes them."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.constant([4, 2], tf.int64), count)
    ds = tf.data.Dataset.from_tensor_slices(seeds).map(
        lambda seed: mixing.draw(seed, 64, 64, **alphas)[:2]).batch(count)
    use_cutmix, lam = next(iter(ds))
    return use_cutmix.numpy(), lam.numpy()


def test_lambda_is_beta_distributed_and_the_box_covers_one_minus_lambda():
    from scipy import stats

    _, draws = _draws(2000, mixup_alpha=0.2, cutmix_alpha=0.0)
    assert stats.kstest(draws, stats.beta(0.2, 0.2).cdf).pvalue > 0.01
    _, cut = _draws(2000, mixup_alpha=0.0, cutmix_alpha=1.0)
    assert stats.kstest(cut, stats.uniform().cdf).pvalue > 0.01  # Beta(1, 1)
    # Away from the edges the box covers (1 - lam) of the image, to a row of pixels.
    for lam in (0.1, 0.5, 0.9):
        y0, y1, x0, x1 = _floats(mixing.cut_box(64, 64, lam, 32, 32))
        assert abs((y1 - y0) * (x1 - x0) / 64**2 - (1 - lam)) < 2 / 64
    # With both on, each method is chosen about half the time.
    use_cutmix, _ = _draws(1000, mixup_alpha=0.2, cutmix_alpha=1.0)
    assert 0.44 < np.mean(use_cutmix) < 0.56


def test_mixed_uint8_batches_keep_their_pixels_and_the_targets_sum_to_one():
    import tensorflow as tf

    images, _, _ = _batch()
    onehot = np.eye(len(images), dtype="float32")  # a class each: the own share is readable
    pixels = tf.constant(np.round(np.abs(images) * 60).clip(0, 255).astype("uint8"))
    for alphas in (dict(mixup_alpha=0.2, cutmix_alpha=0.0),
                   dict(mixup_alpha=0.0, cutmix_alpha=1.0)):
        for s in range(5):
            mixed, targets = mixing.mix_batch(pixels, tf.constant(onehot), tf.constant([s, 9]),
                                              **alphas)
            assert mixed.dtype == tf.uint8
            np.testing.assert_allclose(targets.numpy().sum(-1), 1.0, rtol=1e-6)
            own = np.diag(targets.numpy())  # each image's share of its own label
            float_mix = own[:, None, None, None] * pixels.numpy() + (1 - own)[
                :, None, None, None] * pixels.numpy()[::-1]
            if alphas["cutmix_alpha"]:
                kept = (mixed.numpy() == pixels.numpy()).all(-1).mean((1, 2))
                np.testing.assert_allclose(kept, own, atol=1e-6)
            else:  # MixUp's blend rounds to the nearest level.
                assert np.abs(mixed.numpy() - float_mix).max() <= 0.5 + 1e-4


@needs_torch
def test_binary_cross_entropy_matches_timms(refs):
    images, labels, _ = _batch(2, n=8, classes=10)
    _, targets, _ = mixing.mix(images, np.eye(10, dtype="float32")[labels], 0.7)
    loss = losses.BinaryCrossEntropy(target_threshold=0.2, smoothing=0.1)
    ours = loss(targets, refs["bce_logits"])
    assert float(ops.convert_to_numpy(ours)) == pytest.approx(float(refs["timm_bce"]), rel=1e-5)


@needs_torch
def test_moving_average_matches_torchvisions(refs):
    decay = ema.adjusted_decay(0.99998, batch_size=1024, every=32, epochs=600)
    assert decay == pytest.approx(1 - 2e-5 * 1024 * 32 / 600)
    # A short run's decay (0.9), so that every update shows; two batches between updates,
    # one warm-up epoch, as the reference does.
    average = ema.ExponentialMovingAverage(0.9, every=2, warmup_epochs=1)
    snapshots = refs["ema_snapshots"]
    for epoch in range(snapshots.shape[0]):
        average.on_epoch_begin(epoch)
        for i in range(snapshots.shape[1]):
            flat = snapshots[epoch, i]
            average.after_batch(i, lambda flat=flat: [flat[:6].reshape(2, 3), flat[6:]])
    ours = np.concatenate([a.ravel() for a in average.average])
    np.testing.assert_allclose(ours, refs["tv_ema"], rtol=1e-5, atol=1e-6)


@needs_torch
@pytest.mark.parametrize("num_images,replicas", REPEAT_CASES.tolist())
def test_repeated_augmentation_matches_timms_sampler(refs, num_images, replicas):
    permutation = refs[f"repeat_{num_images}_perm"]
    lists = [
        repeated.epoch_indices(num_images, repeats=3, rank=rank, num_replicas=replicas,
                               permutation=permutation)
        for rank in range(replicas)
    ]
    for rank, ours in enumerate(lists):
        assert ours.tolist() == refs[f"repeat_{num_images}_{replicas}_{rank}"].tolist()
    # The epoch keeps about its length in all (timm rounds it to 256 images).
    assert sum(map(len, lists)) <= max(num_images, replicas * -(-num_images // replicas))
    if replicas == 3:
        # Each image's three copies go to the three workers, one each.
        assert set(lists[0][:50].tolist()) == set(lists[1][:50]) == set(lists[2][:50])


@needs_torch
def test_drop_path_rates_follow_timms_rule_and_keep_the_expected_value(refs):
    rates = refs["timm_drop_rates"]
    survival = residual.linear_drop_rates(len(rates), 0.05)
    np.testing.assert_allclose([1 - p for p in survival], rates, atol=1e-12)
    x = np.ones((20000, 1), "float32")
    for inverted in (False, True):
        drop = StochasticDepth(0.8, per_sample=True, inverted=inverted, seed=1)
        trained = np.asarray(ops.convert_to_numpy(drop(x, training=True)))
        inferred = float(np.asarray(ops.convert_to_numpy(drop(x[:1])))[0, 0])
        assert inferred == (1.0 if inverted else pytest.approx(0.8))
        assert abs(trained.mean() - inferred) < 0.01
        assert StochasticDepth.from_config(drop.get_config()).inverted == inverted

    # The builders' drop_path: timm's rate in every block, and nothing at inference.
    import keras_resnet

    model = keras_resnet.build("resnet50", weights=None, include_top=False, drop_path=0.05)
    blocks = [layer.name[: -len("_out")] for layer in model.layers
              if layer.name.endswith("_out") and "block" in layer.name]
    built = [1 - model.get_layer(f"{b}_drop").survival_prob
             if f"{b}_drop" in {layer.name for layer in model.layers} else 0.0 for b in blocks]
    np.testing.assert_allclose(built, rates, atol=1e-12)
    plain = keras_resnet.build("resnet50", weights=None, include_top=False)
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    image = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype("float32")
    if keras.config.image_data_format() == "channels_first":
        image = image.transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(ops.convert_to_numpy(model(image)),
                                  ops.convert_to_numpy(plain(image)))


def test_cosine_schedule_and_lamb_compile_for_a_recipe():
    import keras

    from keras_resnet.training import optimizer

    recipe = recipes.get("small-data").replace(schedule="cosine", epochs=10, warmup_epochs=2)
    sgd, callbacks = optimizer.make_optimizer(recipe, batch_size=32, steps_per_epoch=5,
                                              epochs=10)
    schedule = sgd._learning_rate  # the schedule itself (``learning_rate`` is its value now)
    assert isinstance(schedule, schedules.CosineSchedule) and callbacks == []
    # torchvision's warm-up by default: 1% of the peak in the first epoch.
    assert float(schedule(0)) == pytest.approx(0.01 * recipe.learning_rate(32))
    lamb = recipes.Recipe(name="lamb", epochs=4, batch_size=8, base_lr=5e-3, base_batch_size=8,
                          optimizer="lamb", weight_decay=0.02, norm_weight_decay=0.0,
                          schedule="cosine", warmup_epochs=1, warmup_lr=1e-4, min_lr=1e-6)
    opt, _ = optimizer.make_optimizer(lamb, batch_size=8, steps_per_epoch=2, epochs=4)
    assert isinstance(opt, keras.optimizers.Lamb) and opt.weight_decay == 0.02
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    opt.build(layer.trainable_variables)
    assert [opt._use_weight_decay(v) for v in layer.trainable_variables] == [True, False]
