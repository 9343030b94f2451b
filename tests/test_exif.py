"""EXIF orientation: every path that reads a photograph shows it as PIL's ``exif_transpose`` does.

Each JPEG here is written by PIL with an orientation tag (1-8) over pixels
stored turned the other way, as a phone or camera stores them. The reference
is independent of the package: PIL decodes the same file and
``ImageOps.exif_transpose`` turns it upright. The package's decoder (libjpeg
in TensorFlow, DCT "fast" by default) and PIL's differ by JPEG rounding
only: about one level on average, where a turned or mirrored view would
differ by tens of levels.
"""

import functools
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps

from keras_resnet import cli, data
from keras_resnet.data import decoding, orientation

ORIENTATIONS = range(1, 9)
# The stored pixels of each tag: the upright image turned by the inverse of
# the turn the tag asks a viewer for (PIL's names for exif_transpose's turns).
_STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # the viewer turns it back with ROTATE_270
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@functools.cache
def _photo():
    from sklearn.datasets import load_sample_images

    return load_sample_images().images[0]  # 427 x 640


def upright_photo(height, width):
    """A non-square part of a real photograph (no symmetry hides a wrong turn)."""
    part = Image.fromarray(_photo()[:400, 40:640])
    return np.asarray(part.resize((width, height), Image.BICUBIC))


def oriented_jpeg(upright, tag, *, quality=92):
    """JPEG bytes whose stored pixels, turned as EXIF ``tag`` says, show ``upright``."""
    image = Image.fromarray(upright)
    if _STORED[tag] is not None:
        image = image.transpose(_STORED[tag])
    exif = Image.Exif()
    exif[orientation.ORIENTATION_TAG] = tag
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, exif=exif)
    return buffer.getvalue()


def pil_upright(contents):
    """The reference: PIL's decode of the file, turned by ``ImageOps.exif_transpose``."""
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(contents))).convert("RGB"))


def _mean_error(ours, reference):
    return np.abs(np.asarray(ours, float) - np.asarray(reference, float)).mean()


@pytest.mark.parametrize("tag", ORIENTATIONS)
def test_the_tag_is_read_as_pil_reads_it(tag):
    contents = oriented_jpeg(upright_photo(30, 50), tag)
    assert Image.open(io.BytesIO(contents)).getexif()[orientation.ORIENTATION_TAG] == tag
    assert int(orientation.jpeg_orientation(tf.constant(contents))) == tag


def test_a_file_without_the_tag_or_with_a_bad_one_is_read_as_stored():
    pixels = upright_photo(30, 50)
    plain = io.BytesIO()
    Image.fromarray(pixels).save(plain, "JPEG", quality=92)
    for contents in (plain.getvalue(), oriented_jpeg(pixels, 1), b"", b"\xff\xd8\xff\xe1\x00"):
        assert int(orientation.jpeg_orientation(tf.constant(contents))) == 1
    # Tag 1 and no tag decode to the very same pixels, through every decoder.
    tagged = oriented_jpeg(pixels, 1)
    window = lambda shape: tf.constant([3.0, 5.0, 20.0, 20.0])  # noqa: E731
    for decode in (
        decoding.decode_rgb,
        lambda c: decoding.decode_view(c, window, 16),
        lambda c: decoding.decode_crop(c, window, 16),
    ):
        np.testing.assert_array_equal(
            decode(tf.constant(tagged)), decode(tf.constant(plain.getvalue()))
        )


@pytest.mark.parametrize("tag", ORIENTATIONS)
def test_evaluation_view_is_pils_upright_image(tag):
    upright = upright_photo(90, 140)
    contents = oriented_jpeg(upright, tag)
    reference_image = pil_upright(contents)
    assert reference_image.shape == upright.shape
    transform = data.eval_transform("imagenet", image_size=48)  # crop, then decode
    ours = transform.decode(tf.constant(contents)).numpy()
    reference = transform(reference_image).numpy()
    error = _mean_error(ours, reference)
    assert error < 2.0, error
    if tag != 1:  # the stored pixels' view is another picture
        stored = np.asarray(Image.open(io.BytesIO(contents)).convert("RGB"))
        assert _mean_error(transform(stored).numpy(), reference) > 5 * error + 5


@pytest.mark.parametrize("tag", ORIENTATIONS)
def test_dct_scaled_evaluation_view_is_pils_upright_image(tag):
    # A large photo and a small view: only 1/8 of the stored pixels are
    # decoded (DCT scaling), on a window mapped back from the shown image.
    upright = upright_photo(400, 600)
    contents = oriented_jpeg(upright, tag)
    transform = data.eval_transform("imagenet", image_size=32)
    assert int(decoding.dct_ratio_index(400 * 32 / 37, 32)) == 3  # ratio 8
    ours = transform.decode(tf.constant(contents)).numpy()
    reference = transform(pil_upright(contents)).numpy()
    # DCT scaling filters differently from the antialiasing kernel (the
    # unturned case measures the same); a one-pixel shift gives above 5.
    assert _mean_error(ours, reference) < 3.0


@pytest.mark.parametrize("tag", ORIENTATIONS)
def test_training_crop_window_is_chosen_in_the_shown_image(tag):
    upright = upright_photo(120, 200)  # shown 120 x 200, stored 200 x 120 for 5-8
    contents = oriented_jpeg(upright, tag)
    reference_image = pil_upright(contents)
    size = 40

    def window(shape):
        # A place that depends on both sides: a swapped shape picks another one.
        top = tf.cast(shape[0] // 5, tf.float32)
        left = tf.cast(shape[1] * 3 // 5, tf.float32)
        return tf.stack([top, left, float(size), float(size)])

    transform = data.CropTransform(window, size, exact=False)  # training's fast path
    ours = transform.decode(tf.constant(contents)).numpy()
    top, left = 120 // 5, 200 * 3 // 5
    reference = reference_image[top : top + size, left : left + size]
    assert _mean_error(ours, reference) < 2.0


@pytest.mark.parametrize("tag", [3, 6, 7])
def test_fast_training_crop_with_dct_scaling_is_pils_upright_crop(tag):
    upright = upright_photo(400, 600)
    contents = oriented_jpeg(upright, tag)
    window = tf.constant([40.0, 300.0, 256.0, 256.0])  # ratio 4 for a 64 px output
    ours = decoding.decode_crop(tf.constant(contents), window, 64).numpy()
    crop = pil_upright(contents)[40:296, 300:556]
    reference = tf.image.resize(crop, [64, 64], method="area").numpy()
    assert _mean_error(ours, reference) < 4.0


@pytest.mark.parametrize("tag", ORIENTATIONS)
def test_full_decodes_are_upright(tag):
    upright = upright_photo(60, 90)
    contents = oriented_jpeg(upright, tag)
    reference = pil_upright(contents)
    assert _mean_error(decoding.decode_rgb(tf.constant(contents)).numpy(), reference) < 1.5
    reduced = decoding.decode_reduced(tf.constant(contents), 20).numpy()  # 1/2 scale
    assert reduced.shape == (30, 45, 3)
    half = tf.image.resize(reference, [30, 45], method="area").numpy()
    assert _mean_error(reduced, half) < 3.0


def test_ten_crops_and_image_transforms_see_the_upright_image(tmp_path):
    upright = upright_photo(60, 90)
    contents = oriented_jpeg(upright, 6)
    reference = pil_upright(contents)
    for transform in (
        data.ten_crop_transform("imagenet", image_size=32),
        data.eval_transform("cifar", image_size=32),
    ):
        ours = transform.decode(tf.constant(contents)).numpy()
        assert _mean_error(ours, transform(reference).numpy()) < 2.0


def test_make_dataset_reads_files_upright(tmp_path):
    paths = []
    for tag in ORIENTATIONS:
        path = tmp_path / f"{tag}.jpg"
        path.write_bytes(oriented_jpeg(upright_photo(90, 140), tag))
        paths.append(str(path))
    transform = data.eval_transform("imagenet", image_size=32)
    batches = data.make_dataset(paths, None, transform=transform, batch_size=8)
    ours = next(iter(batches)).numpy()
    for image, path in zip(ours, paths):
        with open(path, "rb") as f:
            reference = transform(pil_upright(f.read())).numpy()
        # Half-scale DCT decoding (90 px to a 32 px view): another filter.
        assert _mean_error(image, reference) < 3.0, path


@pytest.mark.parametrize("tag", [2, 6, 8])
def test_prepared_shards_hold_upright_images(tmp_path, tag):
    src = tmp_path / "src"
    files = {}
    for c, name in enumerate(("a", "b")):
        (src / name).mkdir(parents=True)
        # small (would be stored as it is) and large (downscaled) photographs
        for shape in ((60, 100), (300, 450)):
            path = src / name / f"{shape[0]}.jpg"
            path.write_bytes(oriented_jpeg(upright_photo(*shape), tag if c == 0 else 1))
            files[f"{name}/{path.name}"] = path
    index = data.prepare_shards(src, tmp_path / "dst", shorter_side=150, quality=95, progress=None)
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/filename": tf.io.FixedLenFeature([], tf.string),
    }
    seen = set()
    for shard in index.splits["train"]:
        for record in tf.data.TFRecordDataset(shard.path):
            example = tf.io.parse_single_example(record, spec)
            name = example["image/filename"].numpy().decode()
            stored = example["image/encoded"]
            # The shard holds the upright picture, no tag left to apply twice.
            assert int(orientation.jpeg_orientation(stored)) == 1
            ours = tf.io.decode_jpeg(stored, channels=3).numpy()
            reference = pil_upright(files[name].read_bytes())
            if min(reference.shape[:2]) > 150:  # stored with the shorter side 150
                new = [round(side * 150 / min(reference.shape[:2])) for side in reference.shape[:2]]
                reference = tf.image.resize(reference, new, antialias=True).numpy()
            assert ours.shape == reference.shape, name
            assert _mean_error(ours, reference) < 3.0, name
            seen.add(name)
    assert seen == set(files)


class _Recorder:
    """Stands in for predict's model: keeps the batches it is given."""

    def __init__(self):
        self.batches = []

    def predict_on_batch(self, x):
        self.batches.append(np.asarray(x))
        return np.full((len(x), 1000), 1e-3, "float32")


def test_predict_sees_the_upright_image(tmp_path, monkeypatch, capsys):
    from keras_resnet.cli.commands import predict

    recorder = _Recorder()
    monkeypatch.setattr(predict, "_load_model", lambda config, weights: recorder)
    paths = []
    for tag in ORIENTATIONS:
        path = tmp_path / f"photo{tag}.jpg"
        path.write_bytes(oriented_jpeg(upright_photo(90, 140), tag))
        paths.append(str(path))
    argv = ["predict", "--model", "resnet18", "--weights", "imagenet", "--image-size", "32"]
    assert cli.main([*argv, *paths]) == 0
    capsys.readouterr()
    images = np.concatenate(recorder.batches)
    transform = data.eval_transform("imagenet", image_size=32)
    for image, path in zip(images, paths):
        with open(path, "rb") as f:
            reference = transform(pil_upright(f.read())).numpy()
        # Half-scale DCT decoding (90 px to a 32 px view): another filter.
        assert _mean_error(image, reference) < 3.0, path
