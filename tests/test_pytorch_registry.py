"""The registry's torchvision and timm records against what their publishers state.

References: the installed torchvision's ``*_Weights`` enums and timm's
pretrained configurations (read in a child process,
``fixtures/torch/publisher_tables.py``: torchvision imports triton, which
crashes beside TensorFlow), and timm's published results table
(``fixtures/timm-results-imagenet-resnets.csv``: the rows of the registered
checkpoints, copied unchanged from ``results/results-imagenet.csv`` of
github.com/huggingface/pytorch-image-models at commit aa4b5850, 2026-08-08).
Downloads go through the loopback server of test_weights_download.py, with a
file whose name carries its sha256 prefix, as torch hub's files do.
"""

import csv
import hashlib
import importlib.util
import json
import math
import os
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from test_torch_checkpoints import _torchvision_names, _write_state_dict
from test_weights_download import _cli, _isolated, server  # noqa: F401 (fixtures)

import keras_resnet
from keras_resnet import data, preprocessing
from keras_resnet.weights import download, registry

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
LIBRARIES = ("torch", "torchvision", "timm", "PIL")
needs_libraries = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in LIBRARIES),
    reason="needs torch, torchvision and timm",
)
# torchvision's builders under this package's names (torchvision's ResNet-50
# ... 152 are the ResNet-B layout).
TORCHVISION_NAMES = {
    "resnet18": "resnet18", "resnet34": "resnet34", "resnet50": "resnet50b",
    "resnet101": "resnet101b", "resnet152": "resnet152b",
    "wide_resnet50_2": "wide_resnet50_2", "wide_resnet101_2": "wide_resnet101_2",
    "resnext50_32x4d": "resnext50_32x4d", "resnext101_32x8d": "resnext101_32x8d",
    "resnext101_64x4d": "resnext101_64x4d",
}


def _published(source):
    return [r for r in registry.published_records() if r.source == source]


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from PIL import Image
    from sklearn.datasets import load_sample_images

    path = tmp_path_factory.mktemp("photo") / "china.jpg"
    Image.fromarray(load_sample_images().images[0]).save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def tables(photo, tmp_path_factory):
    """What the installed torchvision and timm state, and their transforms of ``photo``."""
    out = tmp_path_factory.mktemp("tables") / "views.npz"
    script = FIXTURES / "torch" / "publisher_tables.py"
    result = subprocess.run(
        [sys.executable, str(script), str(photo), str(out)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(result.stdout), dict(np.load(out))


def _mode_mean_std(mode):
    """The mean and std (on [0, 1] pixels) that ``preprocess_input(mode)`` applies, measured."""
    x = np.stack([np.zeros((1, 1, 3)), np.full((1, 1, 3), 255.0)]).astype("float32")
    y = np.asarray(preprocessing.preprocess_input(x, mode=mode))
    std = 1.0 / (y[1, 0, 0] - y[0, 0, 0])
    return -y[0, 0, 0] * std, std


@needs_libraries
def test_torchvision_records_are_torchvisions_tables(tables):
    table = tables[0]["torchvision"]
    expected = {
        (TORCHVISION_NAMES[builder], tag.lower()): fields
        for builder, tags in table.items() for tag, fields in tags.items()
    }
    records = {(r.model, r.tag): r for r in _published("torchvision")}
    assert set(records) == set(expected)  # every V1 and V2 file, nothing else
    for key, fields in expected.items():
        r = records[key]
        assert r.url == fields["url"] and r.include_top and r.classes == fields["classes"]
        # torch hub's check: the digits after the last "-" of the file name.
        assert r.file_hash == re.search(r"-([a-f0-9]+)\.", fields["url"]).group(1)
        assert r.hash_algorithm == "sha256" and r.hash_kind == "prefix"
        assert r.top1 == pytest.approx(fields["acc@1"] / 100, abs=1e-9)
        assert r.top5 == pytest.approx(fields["acc@5"] / 100, abs=1e-9)
        assert r.num_params == fields["num_params"]
        t = r.eval_transform
        assert (t["resize"], t["crop"], t["interpolation"]) == (
            fields["resize"], fields["crop"], fields["interpolation"]
        )
        assert r.resolution == fields["crop"]
        mean, std = _mode_mean_std(r.preprocessing)
        np.testing.assert_allclose(mean, fields["mean"], atol=1e-6)
        np.testing.assert_allclose(std, fields["std"], atol=1e-6)
        assert t["mean"] == fields["mean"] and t["std"] == fields["std"]


@needs_libraries
def test_timm_records_are_timms_configurations_and_results(tables):
    configs = {cfg["url"]: (name, cfg) for name, cfg in tables[0]["timm"].items()}
    with open(FIXTURES / "timm-results-imagenet-resnets.csv", newline="") as f:
        results = {(row["model"], int(row["img_size"])): row for row in csv.DictReader(f)}
    records = _published("timm")
    assert len(records) >= 8
    assert {"resnet50b", "resnet50d"} <= {r.model for r in records}
    for r in records:
        name, cfg = configs[r.url]
        assert r.tag == name.split(".", 1)[1] and r.classes == cfg["num_classes"]
        assert r.file_hash == re.search(r"-([a-f0-9]+)\.", r.url).group(1)
        assert r.license.lower() == cfg["license"]
        row = results[(name, r.resolution)]
        assert r.top1 == pytest.approx(float(row["top1"]) / 100, abs=1e-9)
        assert r.top5 == pytest.approx(float(row["top5"]) / 100, abs=1e-9)
        t = r.eval_transform
        # timm's rule: scale_size = floor(img_size / crop_pct).
        assert t["resize"] == math.floor(r.resolution / float(row["crop_pct"]))
        assert t["crop"] == r.resolution and t["interpolation"] == row["interpolation"]
        mean, std = _mode_mean_std(r.preprocessing)
        np.testing.assert_allclose(mean, cfg["mean"], atol=1e-6)
        np.testing.assert_allclose(std, cfg["std"], atol=1e-6)


@needs_libraries
@pytest.mark.parametrize(
    "key, model, tag",
    [
        ("resnet50.IMAGENET1K_V2", "resnet50b", "imagenet1k_v2"),  # 232 / 224 bilinear
        ("resnet50.IMAGENET1K_V1", "resnet50b", "imagenet1k_v1"),  # 256 / 224 bilinear
        ("resnet50d.a1_in1k", "resnet50d", "a1_in1k"),  # 235 / 224 bicubic
        ("resnet50c.gluon_in1k", "resnet50c", "gluon_in1k"),  # 256 / 224 bicubic
    ],
)
def test_the_evaluation_view_is_the_publishers(tables, photo, key, model, tag):
    transform = data.eval_transform_for(model, tag)
    ours = np.asarray(transform.decode(tf_read(photo))).astype(np.float64)
    theirs = tables[1][key].astype(np.float64)
    assert ours.shape == theirs.shape
    difference = np.abs(ours - theirs)
    # Seen on the 427x640 photo: torchvision's bilinear views 2e-4 levels on
    # average (equal but for a few roundings), timm's bicubic ones 0.14
    # (99th percentile 1). Keras-style rounding of the resized size and the
    # crop offset gave 4.8 and 11.8; TensorFlow's fast DCT 0.9.
    assert difference.mean() < 0.25, difference.mean()
    assert np.percentile(difference, 99) <= 1, np.percentile(difference, 99)


def tf_read(path):
    import tensorflow as tf

    return tf.io.read_file(str(path))


def test_an_unknown_tag_for_the_evaluation_view_is_one_line():
    with pytest.raises(ValueError, match=r"`weights` should be a tag .*Received: weights='v9'"):
        data.eval_transform_for("resnet50b", "v9")


def test_the_digests_publishers_state():
    kinds = {(r.source, r.hash_kind) for r in registry.published_records()}
    assert kinds == {("keras", "full"), ("torchvision", "prefix"), ("timm", "prefix")}
    with pytest.raises(ValueError, match=r"`file_hash` should be 64 hex digits .*first 8 to 16"):
        registry.add_record("resnet18", "x", url="https://h/f-1234567.pth",
                            file_hash="1234567", include_top=True)
    with pytest.raises(ValueError, match=r"`file_hash` should be 32 hex digits"):
        registry.add_record("resnet18", "x", url="https://h/f.h5", file_hash="12345678",
                            hash_algorithm="md5", include_top=True)


def test_weights_list_says_which_hashes_are_prefixes(capsys):
    status, out, err = _cli(capsys, ["weights", "list"])
    assert status == 0 and not err
    lines = {tuple(line.split()[:3]): line for line in out.splitlines()[1:]}
    assert "md5:2cb95161c431 full" in lines[("resnet50", "imagenet", "top")]
    assert "sha256:11ad3fa6 prefix" in lines[("resnet50b", "imagenet1k_v2", "top")]
    assert "torchvision" in lines[("resnet50b", "imagenet1k_v2", "top")]


SHAPE = (32, 32, 3)


@pytest.fixture
def torch_file(tmp_path):
    """A ResNet-18 checkpoint in torch's format, named as torch hub names files."""
    keras.backend.clear_session()
    model = keras_resnet.build("resnet18", weights=None, input_shape=SHAPE, classes=1000)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype("float32") for w in model.get_weights()])
    path = _write_state_dict(tmp_path / "tmp.pth", _torchvision_names(model))
    body = pathlib.Path(path).read_bytes()
    prefix = hashlib.sha256(body).hexdigest()[:8]
    return body, prefix, model


def test_a_registered_pytorch_file_downloads_checked_by_its_prefix(server, torch_file):  # noqa: F811
    body, prefix, reference = torch_file
    name = f"resnet18-{prefix}.pth"
    server.files[f"/{name}"] = body
    keras_resnet.register_weights(
        "resnet18", "hub", url=f"{server.base}/{name}", file_hash=prefix, include_top=True,
    )
    # A headless, pooled model from the file with the classifier: the head is skipped.
    base = keras_resnet.build(
        "resnet18", weights="hub", include_top=False, pooling="avg", input_shape=SHAPE
    )
    x = np.random.default_rng(1).uniform(0, 255, (2, *SHAPE)).astype("float32")
    features = keras.Model(reference.input, reference.get_layer("avg_pool").output)
    np.testing.assert_allclose(base.predict(x, verbose=0), features.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    # Fine-tuning width: the backbone from the file, a fresh 5-way classifier.
    keras_resnet.build("resnet18", weights="hub", input_shape=SHAPE, classes=5)
    assert server.requests == [f"/{name}"]  # downloaded once, then the cache


def test_a_file_that_does_not_start_with_the_prefix_is_refused(server, torch_file):  # noqa: F811
    body, prefix, _ = torch_file
    other = prefix[:-1] + ("0" if prefix[-1] != "0" else "1")
    name = f"resnet18-{other}.pth"
    server.files[f"/{name}"] = body
    keras_resnet.register_weights(
        "resnet18", "hub", url=f"{server.base}/{name}", file_hash=other, include_top=True,
    )
    with pytest.raises(download.WeightsIntegrityError, match=f"expected {other}\\.\\.\\."):
        keras_resnet.build("resnet18", weights="hub", include_top=False, input_shape=SHAPE)
    folder = download.cache_dir()
    assert not (os.path.isdir(folder) and os.listdir(folder))  # nothing kept
