"""The verification cache of image folders: what it saves, and everything that invalidates it."""

import hashlib
import json
import logging
import os

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from keras_resnet import data
from keras_resnet.data import folders


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture
def decoded(monkeypatch):
    """The paths ``check_image`` decodes, in a list, as it is called."""
    calls = []
    check = folders.check_image

    def counting(path):
        calls.append(os.path.basename(os.path.dirname(path)) + "/" + os.path.basename(path))
        return check(path)

    monkeypatch.setattr(folders, "check_image", counting)
    return calls


def _image(path, seed, size=(12, 16)):
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "images"
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(3):
            _image(root / name / f"{i}.{'png' if i % 2 else 'jpg'}", seed=10 * c + i)
    (root / "dog" / "bad.png").write_bytes(b"\x89PNG but not really")
    return root


ALL = ["cat/0.jpg", "cat/1.png", "cat/2.jpg", "dog/0.jpg", "dog/1.png", "dog/2.jpg", "dog/bad.png"]


def _summary(found):
    return found.paths, found.labels.tolist(), [(p, r) for p, r in found.skipped]


def test_second_call_decodes_nothing_and_gives_the_same_result(folder, keras_home, decoded):
    first = data.image_folder(folder)
    assert sorted(decoded) == ALL
    assert [os.path.basename(p) for p, _ in first.skipped] == ["bad.png"]
    decoded.clear()
    second = data.image_folder(folder)
    assert decoded == []
    assert _summary(second) == _summary(first)  # the bad file still skipped, with its reason
    # Where the docstring says it is.
    key = hashlib.sha256(os.fsencode(str(folder))).hexdigest()[:16]
    cache = json.loads((keras_home / "keras_resnet" / "verified" / f"{key}.json").read_text())
    assert sorted(cache["files"]) == ALL
    size, mtime_ns, reason = cache["files"]["dog/bad.png"]
    stat = os.stat(folder / "dog" / "bad.png")
    assert (size, mtime_ns) == (stat.st_size, stat.st_mtime_ns) and "Unknown image file" in reason


def test_touched_changed_or_new_files_are_decoded_again_alone(folder, keras_home, decoded):
    data.image_folder(folder)
    decoded.clear()
    stat = os.stat(folder / "cat" / "0.jpg")
    os.utime(folder / "cat" / "0.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))
    data.image_folder(folder)
    assert decoded == ["cat/0.jpg"]
    decoded.clear()
    _image(folder / "dog" / "2.jpg", seed=99, size=(14, 16))  # new content
    _image(folder / "cat" / "3.jpg", seed=98)  # a new file
    assert len(data.image_folder(folder)) == 7
    assert sorted(decoded) == ["cat/3.jpg", "dog/2.jpg"]


def test_bad_file_replaced_by_a_good_one_of_the_same_name_is_checked_again(
    folder, keras_home, decoded
):
    assert len(data.image_folder(folder).skipped) == 1
    bad = folder / "dog" / "bad.png"
    stat = os.stat(bad)
    _image(bad, seed=5)
    # Even with the old modification time put back, the size tells.
    os.utime(bad, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    decoded.clear()
    found = data.image_folder(folder)
    assert decoded == ["dog/bad.png"]
    assert found.skipped == [] and str(bad) in found.paths


def test_other_tensorflow_version_or_deleted_cache_decodes_everything(folder, keras_home, decoded):
    data.image_folder(folder)
    (cache_file,) = (keras_home / "keras_resnet" / "verified").iterdir()
    cache = json.loads(cache_file.read_text())
    cache["tensorflow"] = "0.0.1"
    cache_file.write_text(json.dumps(cache))
    decoded.clear()
    data.image_folder(folder)
    assert sorted(decoded) == ALL
    assert json.loads(cache_file.read_text())["tensorflow"] != "0.0.1"  # rewritten
    cache_file.unlink()
    decoded.clear()
    data.image_folder(folder)
    assert sorted(decoded) == ALL


def test_without_cache_or_with_an_unwritable_one_verification_still_works(
    folder, tmp_path, monkeypatch, decoded, caplog
):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    found = data.image_folder(folder, cache=False)
    assert len(found) == 6 and sorted(decoded) == ALL
    assert not (tmp_path / "keras").exists()

    # A file where the cache folder should be: nothing can be written there.
    (tmp_path / "blocker").write_text("")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "blocker"))
    for _ in range(2):
        decoded.clear()
        with caplog.at_level(logging.DEBUG, logger="keras_resnet.data.folders"):
            found = data.image_folder(folder)
        assert len(found) == 6 and [os.path.basename(p) for p, _ in found.skipped] == ["bad.png"]
        assert sorted(decoded) == ALL
    assert "cannot write the verification cache" in caplog.text
    assert not [r for r in caplog.records if r.levelno > logging.WARNING]
