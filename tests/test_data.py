"""Input pipelines: shapes, ranges, randomness, 10-crop, folders, digits."""

import logging
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from keras_resnet import data, preprocessing  # noqa: E402


def _image(h, w, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(0, 255, (h, w, 3)), tf.float32)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_tf_preprocess_matches_preprocess_input(mode):
    x = np.random.default_rng(1).uniform(0, 255, (4, 5, 3)).astype(np.float32)
    expected = preprocessing.preprocess_input(x.copy(), data_format="channels_last", mode=mode)
    np.testing.assert_allclose(data.preprocess(tf.constant(x), mode).numpy(), expected, rtol=1e-5, atol=1e-4)


def test_resize_shorter_side_keeps_aspect():
    # 40x60 -> shorter side 32 -> 32x48 (60 * 32 / 40 = 48).
    assert data.resize_shorter_side(_image(40, 60), 32).shape == (32, 48, 3)
    assert data.resize_shorter_side(_image(60, 40), 32).shape == (48, 32, 3)


def test_imagenet_train_transform_is_random_with_right_shape_and_range():
    image = _image(40, 60)
    a = data.imagenet_train_transform(image, size=24, scale=(28, 54), pca_std=0.0)
    b = data.imagenet_train_transform(image, size=24, scale=(28, 54), pca_std=0.0)
    assert a.shape == b.shape == (24, 24, 3)
    # Bilinear resizing with antialiasing of values in [0, 255] stays in range.
    assert float(tf.reduce_min(a)) >= -1e-3 and float(tf.reduce_max(a)) <= 255 + 1e-3
    assert not np.allclose(a.numpy(), b.numpy())


def test_eval_transform_is_deterministic_centre_crop():
    image = _image(40, 60)
    a = data.imagenet_eval_transform(image, size=24, resize=28)
    b = data.imagenet_eval_transform(image, size=24, resize=28)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Identity resize (shorter side already 28): the crop is the exact centre window.
    image28 = _image(28, 40)
    crop = data.imagenet_eval_transform(image28, size=24, resize=28).numpy()
    np.testing.assert_allclose(crop, image28.numpy()[2:26, 8:32], atol=1e-3)


def test_pca_lighting_shifts_every_pixel_by_one_rgb_vector():
    image = _image(5, 6)
    out = data.pca_lighting(image, 0.1).numpy()
    delta = out - image.numpy()
    np.testing.assert_allclose(delta, np.broadcast_to(delta[0, 0], delta.shape), atol=1e-3)
    assert np.abs(delta[0, 0]).max() > 0
    np.testing.assert_array_equal(data.pca_lighting(image, 0.0).numpy(), image.numpy())


def test_cifar_transform_is_a_shifted_window_of_the_padded_image():
    image = _image(8, 8).numpy()
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
    seen = set()
    for _ in range(6):
        out = data.cifar_train_transform(tf.constant(image), pad=4, flip=False).numpy()
        matches = [
            (i, j) for i in range(9) for j in range(9)
            if np.array_equal(out, padded[i : i + 8, j : j + 8])
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 1  # random offsets


def test_ten_crop_on_a_hand_made_image():
    # Pixel (r, c) holds 10 * r + c in every channel: each crop's top-left
    # pixel tells where it was cut. Image 6x8, crops 4x4.
    rows, cols = np.mgrid[0:6, 0:8]
    image = np.repeat((10 * rows + cols)[..., None], 3, axis=-1).astype(np.float32)
    crops = data.ten_crop(tf.constant(image), 4).numpy()
    assert crops.shape == (10, 4, 4, 3)
    # top-left (0,0); top-right (0, 8-4); bottom-left (6-4, 0); bottom-right
    # (2, 4); centre ((6-4)//2, (8-4)//2) = (1, 2).
    assert [crops[k, 0, 0, 0] for k in range(5)] == [0, 4, 20, 24, 12]
    # The flipped crops are the mirror images: their top-left is the original top-right.
    assert [crops[k, 0, 0, 0] for k in range(5, 10)] == [3, 7, 23, 27, 15]
    np.testing.assert_array_equal(crops[5], crops[0][:, ::-1])


def _write_folder(root, *, corrupt=False):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, n in (("cat", 3), ("dog", 2)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
            fmt = "PNG" if i % 2 else "JPEG"
            Image.fromarray(pixels).save(root / name / f"{i}.{fmt.lower()}", format=fmt)
    bad = []
    if corrupt:
        (root / "cat" / "garbage.jpg").write_bytes(b"this is not an image")
        good = (root / "dog" / "1.png").read_bytes()
        (root / "dog" / "truncated.png").write_bytes(good[: len(good) // 2])
        bad = [str(root / "cat" / "garbage.jpg"), str(root / "dog" / "truncated.png")]
    return bad


def test_image_folder_reports_and_skips_unreadable_files(tmp_path, caplog):
    bad = _write_folder(tmp_path, corrupt=True)
    with caplog.at_level(logging.WARNING, logger="keras_resnet.data"):
        folder = data.image_folder(tmp_path)
    assert folder.class_names == ["cat", "dog"]
    assert sorted(p for p, _ in folder.skipped) == sorted(bad)
    for path in bad:
        assert path in caplog.text
    assert len(folder) == 5
    # Labels follow the folders: nothing shifted by the skipped files.
    for path, label in zip(folder.paths, folder.labels):
        assert path.split("/")[-2] == folder.class_names[label]

    ds = data.make_dataset(
        folder.paths, folder.labels, transform=data.eval_transform("imagenet", image_size=16),
        preprocessing_mode="tf", batch_size=4,
    )
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    images, labels = np.concatenate(images), np.concatenate(labels)
    assert images.shape == (5, 16, 16, 3)
    assert images.min() >= -1 - 1e-5 and images.max() <= 1 + 1e-5
    np.testing.assert_array_equal(labels, folder.labels)


def test_find_images_errors(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        data.find_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class sub-folders"):
        data.find_images(tmp_path)
    _write_folder(tmp_path / "d")
    (tmp_path / "d" / "empty").mkdir()
    with pytest.raises(ValueError, match="'empty' has no JPEG or PNG"):
        data.find_images(tmp_path / "d")


def test_load_digits_split_is_reproducible_disjoint_and_stratified():
    from sklearn.datasets import load_digits

    a, b, c = data.load_digits(seed=0), data.load_digits(seed=0), data.load_digits(seed=1)
    sizes = [len(a[s][1]) for s in ("train", "val", "test")]
    assert sum(sizes) == len(load_digits().target) == 1797
    assert sizes[2] == 360  # 20% of 1797, rounded up by scikit-learn
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(a[split][0], b[split][0])
    assert not np.array_equal(a["test"][0], c["test"][0])
    flat = {s: {x.tobytes() + bytes([y]) for x, y in zip(*a[s])} for s in ("train", "test")}
    assert len(flat["train"] & flat["test"]) < 5  # sklearn's digits hold a few duplicates
    assert set(a["test"][1]) == set(range(10))
    assert a["train"][0].dtype == np.uint8 and a["train"][0].max() == 255


def test_digits_dataset_training_random_eval_deterministic():
    digits = data.load_digits()
    images, labels = digits["val"]
    # Every image twice in one batch: a random transform treats the two
    # copies differently, a deterministic one identically. (Comparing two
    # separately built pipelines would not do: once any earlier code set a
    # global seed, e.g. `keras-resnet train` in-process, they repeat.)
    twice = np.concatenate([images[:8], images[:8]])
    twice_labels = np.concatenate([labels[:8], labels[:8]])

    def batch(train):
        make = data.training_transform if train else data.eval_transform
        ds = data.make_dataset(
            twice, twice_labels, transform=make("translate", image_size=16),
            preprocessing_mode="tf", batch_size=16, num_classes=10,
        )
        x, y = next(iter(ds))
        return x.numpy(), y.numpy()

    x, y = batch(False)
    assert x.shape == (16, 16, 16, 3) and y.shape == (16, 10)
    np.testing.assert_array_equal(y.argmax(1), twice_labels)
    np.testing.assert_array_equal(x[:8], x[8:])
    np.testing.assert_array_equal(x, batch(False)[0])
    assert x.min() >= -1 and x.max() <= 1
    t, _ = batch(True)
    assert t.shape == x.shape
    differ = [not np.array_equal(a, b) for a, b in zip(t[:8], t[8:])]
    # 1-pixel translations: 9 offsets, so a pair can coincide by chance.
    assert sum(differ) >= 5


# --- Unreadable files, odd names, single classes (issue 12) ---------------------------


def _png_chunk(kind, payload, crc=None):
    import struct
    import zlib

    crc = zlib.crc32(kind + payload) if crc is None else crc
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def write_png_with_bad_crc(path, gray=128, size=(12, 12)):
    """Writes a uniform PNG that PIL loads and TensorFlow refuses.

    The image data is stored uncompressed (deflate level 0), and the zlib
    stream's last 4 bytes (its Adler-32 checksum) go into a second IDAT
    chunk, one byte of which is then flipped without fixing that chunk's CRC.
    PIL has every pixel before it reaches the second chunk and stops reading;
    libpng (TF's decoder) checks the CRC of every chunk and refuses the file.
    Both facts are asserted, as the tests built on this file rely on the two
    decoders disagreeing.
    """
    import io
    import struct
    import zlib

    from PIL import Image

    height, width = size
    pixels = np.full((height, width, 3), gray, np.uint8)
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter 0: none
    stream = zlib.compress(rows, 0)
    checksum = stream[-4:]
    crc = zlib.crc32(b"IDAT" + checksum)  # the CRC of the bytes before the flip
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", stream[:-4])
        + _png_chunk(b"IDAT", bytes([checksum[0] ^ 0xFF]) + checksum[1:], crc)
        + _png_chunk(b"IEND", b"")
    )
    with open(path, "wb") as f:
        f.write(png)
    with Image.open(io.BytesIO(png)) as image:
        image.load()  # PIL accepts it, with the right pixels...
        np.testing.assert_array_equal(np.asarray(image), pixels)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.decode_image(png, channels=3)  # ...TensorFlow does not.
    return path


def non_utf8_path(folder, name=b"\xff\xfe.png"):
    """``folder``/``name`` as Python spells a name that is not UTF-8 (surrogate escapes).

    Skips the test on file systems that refuse such names (macOS, Windows).
    """
    path = os.path.join(os.fsencode(folder), name)
    try:
        open(path, "wb").close()
    except OSError:
        pytest.skip("this file system refuses file names that are not UTF-8")
    os.remove(path)
    return os.fsdecode(path)


def _gray_png(path, gray, size=(12, 12)):
    from PIL import Image

    Image.fromarray(np.full((*size, 3), gray, np.uint8)).save(path, format="PNG")


def _dataset_values(folder):
    """(mean pixel in [0, 255], label) of every element of an evaluation dataset."""
    ds = data.make_dataset(
        folder.paths, folder.labels, transform=data.eval_transform("cifar", image_size=8),
        preprocessing_mode="tf", batch_size=2,
    )
    pairs = [(float(x.mean()), int(y)) for xs, ys in ds for x, y in zip(xs.numpy(), ys.numpy())]
    return [(round((m + 1) * 127.5), y) for m, y in pairs]


def test_verification_uses_the_pipeline_decoder(tmp_path):
    # A file PIL accepts but TensorFlow cannot decode must be found by the
    # check, not dropped later by the pipeline (which shifted every file after it).
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    bad = write_png_with_bad_crc(str(tmp_path / "a" / "0.png"), gray=10)
    _gray_png(tmp_path / "a" / "1.png", 20)
    _gray_png(tmp_path / "b" / "0.png", 30)
    _gray_png(tmp_path / "b" / "1.png", 40)
    folder = data.image_folder(tmp_path)
    assert [p for p, _ in folder.skipped] == [bad]
    assert "PNG" in folder.skipped[0][1]  # the decoder's own reason
    assert data.check_image(bad) is not None
    # Every listed file reaches the model with its own label.
    assert _dataset_values(folder) == [(20, 0), (30, 1), (40, 1)]


def test_make_dataset_never_drops_a_file(tmp_path):
    # Dropping an undecodable file would pair every later image with the
    # wrong path; the pipeline must fail instead.
    bad = write_png_with_bad_crc(str(tmp_path / "bad.png"))
    _gray_png(tmp_path / "good.png", 50)
    ds = data.make_dataset(
        [bad, str(tmp_path / "good.png")], None,
        transform=data.eval_transform("cifar", image_size=8), preprocessing_mode="tf",
        batch_size=2,
    )
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(ds)


def test_file_names_that_are_not_utf8_load_and_are_reported_readably(tmp_path, caplog):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    odd = non_utf8_path(tmp_path / "a")
    _gray_png(odd, 60)
    _gray_png(tmp_path / "b" / "0.png", 70)
    odd_bad = non_utf8_path(tmp_path / "b", b"\xfe\xff.png")
    write_png_with_bad_crc(odd_bad)
    with caplog.at_level(logging.WARNING, logger="keras_resnet.data"):
        folder = data.image_folder(tmp_path)
    assert folder.paths == [odd, str(tmp_path / "b" / "0.png")]
    assert [p for p, _ in folder.skipped] == [odd_bad]
    assert _dataset_values(folder) == [(60, 0), (70, 1)]
    # Logged as the repr of the bytes: a log or terminal that takes UTF-8
    # only cannot write the name itself.
    assert data.printable(odd_bad) == repr(os.fsencode(odd_bad))
    assert repr(os.fsencode(odd_bad)) in caplog.text
    assert data.printable(str(tmp_path / "b" / "0.png")) == str(tmp_path / "b" / "0.png")


def test_a_dataset_needs_two_classes(tmp_path):
    (tmp_path / "one" / "cat").mkdir(parents=True)
    _gray_png(tmp_path / "one" / "cat" / "0.png", 10)
    for find in (data.find_images, data.image_folder):
        with pytest.raises(ValueError, match="at least 2 classes") as e:
            find(tmp_path / "one")
        assert str(tmp_path / "one") in str(e.value) and "'cat'" in str(e.value)
    # Also when the second class exists but none of its files can be read.
    (tmp_path / "one" / "dog").mkdir()
    write_png_with_bad_crc(str(tmp_path / "one" / "dog" / "0.png"))
    assert len(data.find_images(tmp_path / "one")) == 2
    with pytest.raises(ValueError, match="'dog' has no readable images"):
        data.image_folder(tmp_path / "one")


# --- Sizes claimed by headers, each unreadable file said once (issue 21) ---------------


def huge_jpeg(path, width=50000, height=50000):
    """A small real JPEG whose frame header (SOF0) is patched to claim ``width`` x ``height``."""
    import io
    import struct

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(buffer, "JPEG")
    contents = bytearray(buffer.getvalue())
    sof = contents.index(b"\xff\xc0")
    contents[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    with open(path, "wb") as f:
        f.write(bytes(contents))
    return str(path)


def huge_png(path, width=50000, height=50000):
    """A valid-looking PNG (IHDR with its CRC right) claiming ``width`` x ``height``."""
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x80" * 3 * 16)  # one row: far less than it claims
    png = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
           + _png_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)
    return str(path)


def test_an_image_claiming_a_huge_size_is_refused_by_its_header(tmp_path, monkeypatch):
    import struct

    from keras_resnet.data import headers

    # The bound is TensorFlow's own JPEG limit: an RGB image under 2**29 bytes.
    assert data.MAX_PIXELS == (2**29 - 1) // 3 == 178_956_970
    jpeg, png = huge_jpeg(tmp_path / "huge.jpg"), huge_png(tmp_path / "huge.png")
    assert headers.header_size(jpeg) == (50000, 50000)
    assert headers.header_size(png) == (50000, 50000)
    decoded = []
    monkeypatch.setattr(data.folders, "decode_image", decoded.append)
    for path in (jpeg, png):
        reason = data.check_image(path)
        assert reason == (
            "its header claims 50000 x 50000 pixels, more than the 178,956,970 an image "
            "may have; not decoded"
        )
    assert decoded == []  # refused before any decoding
    # At the bound and below, a header is no reason to refuse.
    side = int(data.MAX_PIXELS**0.5)
    assert headers.size_problem(huge_png(tmp_path / "big.png", side, side)) is None
    # A header cut short, or a format whose header is not read: the decoder decides.
    (tmp_path / "short.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13))
    assert headers.header_size(tmp_path / "short.png") is None
    assert headers.header_size(tmp_path / "missing.jpg") is None


def test_train_says_each_unreadable_or_huge_image_once(tmp_path, capfd, monkeypatch):
    from keras_resnet import cli

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no cached verdicts
    # What `import keras_resnet` sets in a fresh process (here TensorFlow came first).
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    _write_folder(tmp_path / "data")
    bad = {
        "truncated": tmp_path / "data" / "cat" / "truncated.jpg",
        "huge": huge_jpeg(tmp_path / "data" / "dog" / "huge.jpg"),
        "huge_png": huge_png(tmp_path / "data" / "cat" / "huge.png"),
    }
    whole = (tmp_path / "data" / "cat" / "0.jpeg").read_bytes()
    bad["truncated"].write_bytes(whole[: len(whole) // 2])
    # A batch larger than the readable images stops the run right after the check.
    status = cli.main([
        "train", "--data", str(tmp_path / "data"), "--model", "small-resnet",
        "--image-size", "16", "--batch-size", "64", "--run-dir", str(tmp_path / "run"),
    ])
    out, err = capfd.readouterr()
    assert status == 2
    lines = (out + err).splitlines()
    for path in bad.values():
        assert len([line for line in lines if str(path) in line]) == 1, (path, lines)
    for path in (bad["huge"], bad["huge_png"]):
        assert any(str(path) in line and "178,956,970" in line for line in lines)
    # libjpeg's own lines about the truncated file stay off the terminal.
    assert "JPEG library" not in out + err and "Image too large" not in out + err


def test_predict_refuses_a_huge_image_in_one_line(tmp_path, monkeypatch, capsys):
    from test_predict import make_brightness_run, write_gray

    from keras_resnet import cli

    run_dir = make_brightness_run(tmp_path, monkeypatch)
    huge = huge_jpeg(tmp_path / "huge.jpg")
    good = write_gray(tmp_path / "good.png", 200)
    assert cli.main(["predict", "--run-dir", str(run_dir), huge, good]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"skipped unreadable image {huge}: its header claims 50000 x 50000 pixels, more than "
        "the 178,956,970 an image may have; not decoded"
    )
    assert out[1] == good
