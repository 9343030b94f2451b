"""Version 0.1's import paths keep working for one release, each warning with the new one."""

import importlib
import sys
import warnings

import pytest

import keras_resnet

MOVED = [
    ("keras_resnet.models", "ResNet50", "keras_resnet.architectures.resnet"),
    ("keras_resnet.layers", "StochasticDepth", "keras_resnet.architectures.layers"),
    ("keras_resnet.inference", "optimize_for_inference", "keras_resnet.deploy"),
    ("keras_resnet.performance", "training_defaults", "keras_resnet.training.precision"),
    ("keras_resnet.recipes", "get", "keras_resnet.training.recipes"),
    ("keras_resnet.complexity", "multiply_adds", "keras_resnet.analysis.complexity"),
]


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("old, name, new", MOVED)
def test_old_module_paths_import_with_a_warning(old, name, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated.*use {new}"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


@pytest.mark.backend_agnostic
def test_from_import_of_an_old_path():
    sys.modules.pop("keras_resnet.models", None)
    with pytest.warns(DeprecationWarning):
        from keras_resnet.models import ARCHITECTURES, ResNet50  # noqa: F401
    assert "resnet50" in ARCHITECTURES


@pytest.mark.backend_agnostic
def test_names_that_moved_to_the_catalogue():
    from keras_resnet import cifar, weights

    with pytest.warns(DeprecationWarning, match="keras_resnet.catalog.build"):
        model = cifar.build("resnet20")
    assert model.name == "resnet20"
    with pytest.warns(DeprecationWarning, match="family='cifar'"):
        names = cifar.list_models()
    assert names == keras_resnet.list_models("cifar", include_plain=True)
    with pytest.warns(DeprecationWarning, match="keras_resnet.catalog.register_weights"):
        assert weights.register_weights is keras_resnet.register_weights
    with pytest.raises(AttributeError):
        weights.no_such_name  # noqa: B018


@pytest.mark.backend_agnostic
def test_documented_paths_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from keras_resnet import blocks, cifar  # noqa: F401
        import keras_resnet.blocks  # noqa: F401
        import keras_resnet.cifar  # noqa: F401

        keras_resnet.cifar.ResNet20
        keras_resnet.blocks.stack1
