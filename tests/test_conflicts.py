"""The unrelated 2019 ``keras-resnet`` distribution is detected when it shares our folder."""

import importlib.metadata
import sys

import pytest

from keras_resnet import _conflicts


def _fake_distribution(root, **fields):
    info = root / "keras_resnet-0.2.0.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", "Name: keras-resnet", "Version: 0.2.0"]
    lines += [f"{key}: {value}" for key, value in fields.items()]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


def test_nothing_to_say_in_a_clean_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert _conflicts.conflict_message() is None


def test_the_2019_package_is_named_with_the_fix(monkeypatch, tmp_path):
    # The fields of keras-resnet 0.2.0's own PKG-INFO on the package index.
    _fake_distribution(
        tmp_path, **{"Home-page": "https://github.com/broadinstitute/keras-resnet",
                     "Author": "Allen Goodman"}
    )
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert importlib.metadata.version("keras-resnet") == "0.2.0"
    message = _conflicts.conflict_message()
    assert "unrelated package 'keras-resnet' 0.2.0 (2019)" in message
    assert "pip uninstall -y keras-resnet keras3-resnet" in message
    with pytest.warns(RuntimeWarning, match="unrelated package"):
        _conflicts.warn_if_shadowed()


def test_an_earlier_install_of_this_package_is_told_apart(monkeypatch, tmp_path):
    _fake_distribution(tmp_path, Summary="ResNet, ResNetV2 and ResNeXt for Keras 3")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert "earlier install of this package" in _conflicts.conflict_message()
