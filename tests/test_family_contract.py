"""A new family is one module and one name in ``family.MODULES``.

A toy family (one convolution and its head) is registered the way
docs/adding-a-family.md says; the catalogue, the command line's model
lookup, the feature backbones and ``from keras_resnet import ...`` then find
it with nothing else changed.
"""

import functools
import sys
import types

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import catalog
from keras_resnet.architectures import common, family, features


def _toy_module():
    def from_table(key, *, model_name=None, output_stride=32, **arguments):
        def body(img_input):
            x = img_input
            for level in (2, 3, 4, 5):
                x = keras.layers.Conv2D(4, 3, strides=4 if level == 2 else 2, padding="same",
                                        name=f"c{level}")(x)
            return x

        return common.classifier(body, name=model_name or key, weights_name=key, **arguments)

    builder = functools.partial(common.named_builder, functools.partial(from_table, "toynet"))
    module = types.ModuleType("keras_resnet.architectures.toynet")
    module.ToyNet = builder("ToyNet", "The toy network.", name="toynet", weights=None)
    row = family.Row(
        "toynet", "imagenet",
        builder("toynet", "The toy row.", name=None, weights=None, name_arg="model_name",
                options={"output_stride": 32}),
        depth=5, default_size=64, preprocessing="tf",
        feature_layers={f"C{k}": f"c{k}" for k in (2, 3, 4, 5)},
    )
    module.FAMILY = family.Family(rows=(row,), exports=("ToyNet",))
    return module


@pytest.fixture
def toy_family(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras_resnet.architectures.toynet", _toy_module())
    monkeypatch.setattr(family, "MODULES", (*family.MODULES, "toynet"))
    family._modules.cache_clear()
    monkeypatch.setattr(catalog, "_ENTRIES", catalog._make_entries())
    yield
    family._modules.cache_clear()
    keras_resnet.__dict__.pop("ToyNet", None)


def test_a_registered_family_is_found_everywhere(toy_family):
    assert "toynet" in catalog.list_models("imagenet")
    model = keras_resnet.build("toynet", classes=3, input_shape=common.image_shape(64))
    assert model.name == "toynet" and model.output.shape == (None, 3)
    # 4 convolutions of 3x3 (3->4, then 4->4) with biases, and the 4->3 classifier.
    assert model.count_params() == (3 * 9 * 4 + 4) + 3 * (4 * 9 * 4 + 4) + (4 * 3 + 3)

    backbone = keras_resnet.feature_backbone("toynet", input_shape=common.image_shape(64))
    maps = backbone(np.zeros((1, *common.image_shape(64)), "float32"))
    assert {level: maps[level].shape[1 if keras.config.image_data_format() == "channels_last"
                                     else 2] for level in maps} == {
        "C2": 16, "C3": 8, "C4": 4, "C5": 2}

    from keras_resnet import ToyNet

    assert ToyNet.__name__ == "ToyNet" and "ToyNet" in keras_resnet.__all__
    assert ToyNet(classes=2, input_shape=common.image_shape(64)).output.shape == (None, 2)


def test_the_catalogue_is_every_familys_rows():
    rows = [row.name for fam in family.families() for row in fam.rows]
    assert sorted(catalog.list_models(None, include_plain=True)) == sorted(rows)
    assert set(features.NETWORKS) == {
        row.name for fam in family.families() for row in fam.rows if row.feature_layers}
