"""Against torchvision's and timm's own models: every PyTorch-layout architecture, loaded here.

For each name the library's model (``torchvision.models.resnet50()``,
``timm.create_model("resnet50d")`` ...) gets random weights and BatchNorm
statistics far from the identity, is saved as ``.pth`` (``torch.save``) and
``.safetensors``, and both files are loaded into this package's model of the
same name. Checked: logits, pooled features (``include_top=False,
pooling="avg"``) and feature maps (no pooling) against the library's forward
pass on the same images, and the parameter count against the library's.

The library models run in a child process (``fixtures/torch/library_resnets.py``,
one for all models): torchvision pulls in triton, whose native code crashes in
a process that has loaded TensorFlow. Needs torch, torchvision and timm
(``make test`` installs them); skipped where they are missing.
"""

import importlib.util
import math
import pathlib
import subprocess
import sys

import catalogue_rows
import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import catalog

SCRIPT = pathlib.Path(__file__).parent / "fixtures" / "torch" / "library_resnets.py"
LIBRARIES = ("torch", "torchvision", "timm", "safetensors")
pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in LIBRARIES),
    reason="needs torch, torchvision, timm and safetensors",
)

SIZE = 64
NAMES = (
    "resnet18", "resnet34", "resnet50b", "resnet101b", "resnet152b", "resnet50c",
    "resnet18d", "resnet34d", "resnet50d", "resnet101d", "resnet152d",
    "wide_resnet50_2", "wide_resnet101_2",
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
)


def _references(folder, names):
    """Runs the library models: NAME.pth, NAME.safetensors and NAME.npz per name."""
    subprocess.run(
        [sys.executable, str(SCRIPT), str(folder), str(SIZE), *names],
        check=True, capture_output=True,
    )
    return {name: dict(np.load(folder / f"{name}.npz")) for name in names}


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library_resnets")
    return folder, _references(folder, NAMES)


def _relative(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


# Seen (torch 2.14.1, torchvision 0.29.1, timm 1.0.31, TF 2.21, 64 px): 1.9e-7
# (resnext50_32x4d's pooled features) to 2.3e-6 (wide_resnet50_2's maps); the
# bound is 1e-4.
TOLERANCE = 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_library_model_and_ours_agree(references, name):
    folder, refs = references
    _agree(name, folder, refs[name])


# timm's networks with channel attention (SE-ResNet, SE-ResNeXt, ECA-ResNet,
# ResNet-RS): every row of the depth table whose blocks carry it, each in a
# folder of its own that is deleted when its test passes (their files
# together would be about 13 GB).
@pytest.mark.slow
@pytest.mark.parametrize(
    "name", catalogue_rows.imagenet_rows(lambda arch: arch.attention is not None)
)
def test_timms_attention_networks_and_ours_agree(name, tmp_path):
    _agree(name, tmp_path, _references(tmp_path, [name])[name])


def _agree(name, folder, ref):
    # One build per name (building dominates the time): both files load into
    # it in turn; the pooled features and feature maps are its inner layers.
    model = catalog.build(name, weights=None, input_shape=(SIZE, SIZE, 3),
                          classifier_activation=None)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert trainable == int(ref["params"]), (name, trainable, int(ref["params"]))
    inner = keras.Model(
        model.input, [model.get_layer("avg_pool").input, model.get_layer("avg_pool").output]
    )
    for suffix in (".pth", ".safetensors"):
        keras_resnet.load_weights(model, str(folder / f"{name}{suffix}"))
        outputs = inner(ref["x"], training=False)
        maps, pooled = (keras.ops.convert_to_numpy(t) for t in outputs)
        logits = keras.ops.convert_to_numpy(model(ref["x"], training=False))
        errors = {
            "logits": _relative(logits, ref["logits"]),
            "pooled": _relative(pooled, ref["pooled"]),
            "maps": _relative(maps, ref["maps"]),
        }
        print(name, suffix, errors)
        assert max(errors.values()) < TOLERANCE, (name, suffix, errors)


def test_a_headless_model_loads_the_file_with_the_classifier(references):
    """include_top=False, with and without pooling, from the same checkpoint."""
    folder, refs = references
    ref = refs["resnet50d"]
    for pooling, key in (("avg", "pooled"), (None, "maps")):
        base = catalog.build("resnet50d", weights=str(folder / "resnet50d.pth"),
                             include_top=False, pooling=pooling, input_shape=(SIZE, SIZE, 3))
        features = keras.ops.convert_to_numpy(base(ref["x"], training=False))
        assert _relative(features, ref[key]) < TOLERANCE
        keras.backend.clear_session()


@pytest.mark.backend_agnostic
def test_resnet50d_agrees_on_every_backend(tmp_path):
    """The same check for one model, on the backend under test (JAX, PyTorch too)."""
    ref = _references(tmp_path, ["resnet50d"])["resnet50d"]
    model = catalog.build(
        "resnet50d", weights=str(tmp_path / "resnet50d.safetensors"),
        input_shape=(SIZE, SIZE, 3), classifier_activation=None,
    )
    logits = keras.ops.convert_to_numpy(model(ref["x"], training=False))
    assert _relative(logits, ref["logits"]) < TOLERANCE
