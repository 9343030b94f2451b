"""Crop-then-decode: crop windows against the augmentations' formulas, decoded crops against full decodes.

References: the paper's scale augmentation (shorter side uniform in
[256, 480], uniform crop position), torchvision's ``RandomResizedCrop``
algorithm (area uniform in [0.08, 1], log-uniform aspect ratio, centre-crop
fallback with the ratio clamped), hand-computed centre windows, and
TensorFlow's full ``decode_jpeg`` / PIL on real photographs.
"""

import io
import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy import stats

from keras_resnet import data
from keras_resnet.data import crops, decoding, transforms

SIZE = 224


def windows(window_fn, shape, n=3000):
    """``n`` windows ``window_fn`` draws for an image of ``shape`` (one graph, fast)."""
    tf.random.set_seed(1234)
    shape = tf.constant(shape, tf.int32)
    dataset = tf.data.Dataset.range(n).map(lambda _: window_fn(shape))
    return np.stack(list(dataset.batch(n).as_numpy_iterator())[0])


@pytest.fixture(scope="module")
def photo():
    """One of scikit-learn's photographs (427 x 640)."""
    from sklearn.datasets import load_sample_images

    return load_sample_images().images[0]


def jpeg_bytes(image, quality=90, mode=None):
    buffer = io.BytesIO()
    picture = Image.fromarray(image)
    if mode:
        picture = picture.convert(mode)
    picture.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------
# The windows' distributions
# ---------------------------------------------------------------------------


def test_scale_augmentation_window_follows_the_paper():
    h, w = 400, 600
    found = windows(lambda s: crops.scale_augmentation_window(s, size=SIZE, scale=(256, 480)), [h, w])
    top, left, height, width = found.T.astype(float)
    # The shorter side (400) is resized to S exactly, the longer to round(1.5 S):
    # the window is size / scale on each axis; S must be uniform on 256..480.
    resized = SIZE * h / height
    assert np.abs(resized - np.round(resized)).max() < 1e-2
    resized = np.round(resized).astype(int)
    assert resized.min() >= 256 and resized.max() <= 480
    counts = np.bincount(resized - 256, minlength=225)
    assert stats.chisquare(counts).pvalue > 1e-3
    long_side = np.round(w * resized / h)
    np.testing.assert_allclose(width, SIZE * w / long_side, rtol=1e-5)
    # The crop's offsets in the resized image: integers, uniform over every place it fits.
    y = top * resized / h
    x = left * long_side / w
    assert np.abs(y - np.round(y)).max() < 1e-2 and np.abs(x - np.round(x)).max() < 1e-2
    for offset, room in ((np.round(y), resized - SIZE), (np.round(x), long_side - SIZE)):
        assert (offset >= 0).all() and (offset <= room).all()
        fraction = (offset + np.random.default_rng(0).uniform(size=len(offset))) / (room + 1)
        assert stats.kstest(fraction, "uniform").pvalue > 1e-3


def test_scale_augmentation_window_refuses_a_range_below_the_crop():
    with pytest.raises(ValueError, match=r"scale=\(128, 480\)"):
        crops.scale_augmentation_window(tf.constant([400, 600]), size=SIZE, scale=(128, 480))


def test_random_resized_crop_window_follows_torchvision():
    h = w = 500
    found = windows(crops.random_resized_crop_window, [h, w])
    top, left, height, width = found.T.astype(float)
    assert (top >= 0).all() and (top + height <= h).all()
    assert (left >= 0).all() and (left + width <= w).all()
    area = height * width / (h * w)
    aspect = width / height
    assert area.min() >= 0.075 and area.max() <= 1.0
    assert aspect.min() >= 0.74 and aspect.max() <= 1.35
    # A candidate of area fraction <= 0.75 fits a square image whatever its
    # ratio, so there the accepted windows keep the candidates' law: area
    # uniform in [0.08, 0.75], log-ratio uniform, independent of each other.
    small = area <= 0.75
    assert stats.kstest((area[small] - 0.08) / 0.67, "uniform").pvalue > 1e-3
    log_ratio = (np.log(aspect[small]) - math.log(3 / 4)) / (math.log(4 / 3) - math.log(3 / 4))
    assert stats.kstest(log_ratio, "uniform").pvalue > 1e-3
    # The fraction of windows with area <= 0.75 is computable: a candidate
    # of area A fits unless A * r > 1 (r up to 4/3); first-attempt failures
    # only move mass up, so at least 0.67 / 0.92 of draws land there.
    assert small.mean() > 0.67 / 0.92 - 0.03


@pytest.mark.parametrize(
    "shape, expected",
    [
        # torchvision's fallback: ratio clamped to 4/3 (too wide) or 3/4 (too tall), centred.
        ((50, 1000), (0, (1000 - 67) // 2, 50, 67)),
        ((1000, 50), ((1000 - 67) // 2, 0, 67, 50)),
    ],
)
def test_random_resized_crop_falls_back_to_a_clamped_centre_crop(shape, expected):
    # No candidate of area >= 8% fits an image of aspect ratio 20.
    found = windows(crops.random_resized_crop_window, list(shape), n=50)
    assert {tuple(row) for row in found} == {expected}


def test_center_window_is_the_resized_centre_crop():
    # 400 x 600 -> 256 x 384 (scale 0.64 both ways); the centre 224 crop
    # starts at (16, 80) there, (25, 125) in source pixels, and spans 350.
    window = crops.center_window(tf.constant([400, 600]), size=224, resize=256).numpy()
    np.testing.assert_allclose(window, [25, 125, 350, 350], rtol=1e-6)


# ---------------------------------------------------------------------------
# Decoding only the window
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("resized_shorter, y, x", [(256, 0, 0), (300, 31, 97), (480, 256, 495)])
def test_paper_view_equals_resizing_the_whole_image_then_cropping(photo, resized_shorter, y, x):
    # A fixed draw of the paper's augmentation, both ways: the float pipeline
    # resizes the whole decoded image and crops; the view decodes only the
    # blocks under the crop and resamples them with the same kernel.
    contents = jpeg_bytes(photo)  # 427 x 640
    decoded = tf.cast(tf.io.decode_jpeg(contents, channels=3), tf.float32)
    resized = transforms.resize_shorter_side(decoded, resized_shorter)
    reference = resized[y : y + SIZE, x : x + SIZE].numpy()
    offsets = iter([y, x])
    window = crops._window_of_crop(
        tf.constant([427, 640]), tf.constant(resized_shorter), SIZE, lambda room: next(offsets)
    )
    ours = decoding.decode_view(tf.constant(contents), window, SIZE).numpy()
    diff = np.abs(ours - reference)
    # uint8 rounding (0.5), and libjpeg's chroma upsampling at the decoded
    # window's edge, a few pixels.
    assert diff.mean() < 0.35 and np.percentile(diff, 99.5) <= 1.0


def test_dct_scaled_view_matches_the_full_decode(photo):
    big = np.asarray(Image.fromarray(photo).resize((1280, 854), Image.BICUBIC))
    contents = jpeg_bytes(big)
    window = tf.constant([100.0, 200.0, 600.0, 600.0])
    # A 224 px output from a 600 px window: ratio 2 keeps 300 >= 224, 4 would not.
    assert int(decoding.dct_ratio_index(600, SIZE)) == 1
    ours = decoding.decode_view(tf.constant(contents), window, SIZE).numpy().astype(float)
    decoded = tf.io.decode_jpeg(contents, channels=3)
    reference = decoding.view_of(decoded, window, SIZE).numpy()
    # DCT scaling filters differently from the antialiasing kernel, but the
    # view is the same (a one-pixel misalignment would give a mean above 5).
    assert np.abs(ours - reference).mean() < 2.5


def test_crop_transform_reads_files_as_it_crops_decoded_images(photo):
    fixed = lambda shape: tf.constant([30.0, 60.0, 350.0, 350.0])  # noqa: E731
    transform = data.CropTransform(fixed, SIZE)
    for contents, tolerance in ((jpeg_bytes(photo), 1.0), (png_bytes(photo), 0.0)):
        decoded = tf.io.decode_image(contents, channels=3).numpy()
        from_file = transform.decode(tf.constant(contents)).numpy()
        assert from_file.dtype == np.uint8 and from_file.shape == (SIZE, SIZE, 3)
        from_image = transform(decoded).numpy()
        assert np.abs(from_file.astype(int) - from_image).mean() <= tolerance


@pytest.mark.parametrize("shape", [(333, 500), (500, 375), (427, 640), (600, 900)])
def test_eval_transform_matches_the_float_pipeline(photo, shape):
    image = np.asarray(Image.fromarray(photo).resize(shape[::-1], Image.BICUBIC))
    contents = jpeg_bytes(image)
    ours = data.eval_transform("imagenet", image_size=SIZE).decode(tf.constant(contents)).numpy()
    decoded = tf.cast(tf.io.decode_jpeg(contents, channels=3), tf.float32)
    reference = transforms.imagenet_eval_transform(decoded, size=SIZE, resize=256).numpy()
    diff = np.abs(ours.astype(float) - reference)
    if int(SIZE * min(shape) / 256) // 2 >= SIZE:
        # DCT-scaled (the 600 px image): another filter, the same view.
        assert diff.mean() < 2.5
    else:
        # The same pixels up to uint8 rounding and the decoded window's edge.
        assert diff.mean() < 0.35 and np.percentile(diff, 99.5) <= 1.0


def test_training_transforms_give_uint8_crops_of_any_file_type(photo):
    small = np.asarray(Image.fromarray(photo).resize((150, 100)))
    files = [jpeg_bytes(photo), png_bytes(small), jpeg_bytes(small, mode="L")]
    for augmentation in ("imagenet", "inception"):
        transform = data.training_transform(augmentation, image_size=SIZE)
        for contents in files:
            out = transform.decode(tf.constant(contents))
            assert out.dtype == tf.uint8 and out.shape == (SIZE, SIZE, 3)


def test_cmyk_and_grayscale_jpegs_decode_as_rgb(photo):
    cmyk = jpeg_bytes(photo, mode="CMYK")
    rgb_by_pil = np.asarray(Image.open(io.BytesIO(cmyk)).convert("RGB")).astype(int)
    ours = decoding.decode_rgb(cmyk).numpy().astype(int)
    # libjpeg's and PIL's CMYK-to-RGB conversions round differently.
    assert np.abs(ours - rgb_by_pil).mean() < 1.0
    gray = jpeg_bytes(photo, mode="L")
    window = lambda shape: tf.stack([0, 0, shape[0], shape[1]])  # noqa: E731
    out = data.CropTransform(window, 200).decode(tf.constant(gray)).numpy()
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_png_with_alpha_or_16_bits_decodes_as_its_rgb(photo, tmp_path):
    small = photo[:120, :160]
    alpha = np.dstack([small, np.full(small.shape[:2], 128, np.uint8)])
    deep = small.astype(np.uint16) * 257  # 16-bit, the same picture
    fixed = lambda shape: tf.constant([10.0, 20.0, 100.0, 100.0])  # noqa: E731
    transform = data.CropTransform(fixed, 50)
    reference = transform(small).numpy().astype(int)
    buffer = io.BytesIO()
    Image.fromarray(alpha, "RGBA").save(buffer, "PNG")
    ours = transform.decode(tf.constant(buffer.getvalue())).numpy()
    # The alpha channel is dropped, not blended: the colour values stay.
    np.testing.assert_array_equal(ours, reference)
    # PIL writes 16-bit RGB PNGs only through NumPy-free paths; TensorFlow can.
    deep_png = tf.io.encode_png(tf.constant(deep)).numpy()
    ours = transform.decode(tf.constant(deep_png)).numpy()
    np.testing.assert_array_equal(ours, reference)


def test_fast_training_view_is_the_exact_view_up_to_rounding_and_aliasing(photo):
    contents = tf.constant(jpeg_bytes(photo))  # 427 x 640
    decoded = tf.io.decode_jpeg(contents, channels=3)
    for window in ([10.0, 21.0, 300.0, 300.0], [0.0, 0.0, 224.0, 224.0], [100.0, 300.0, 327.0, 340.0]):
        fast = decoding.decode_crop(contents, tf.constant(window), SIZE).numpy().astype(float)
        exact = decoding.view_of(decoded, tf.constant(window), SIZE).numpy()
        shifted = decoding.view_of(decoded, tf.constant(window) + [1.0, 1.0, 0, 0], SIZE).numpy()
        # Whole-pixel windows: only the missing antialiasing and the
        # truncation to uint8 (half a level) differ, far less than the same
        # view one source pixel off.
        error = np.abs(fast - exact).mean()
        assert error < 4.0 and error < 0.5 * np.abs(fast - shifted).mean(), window
    # A fractional window is rounded to whole pixels (under half a pixel off).
    window = tf.constant([10.3, 20.6, 300.2, 300.2])
    np.testing.assert_array_equal(
        decoding.decode_crop(contents, window, SIZE).numpy(),
        decoding.decode_crop(contents, tf.constant([10.0, 21.0, 300.0, 300.0]), SIZE).numpy(),
    )
    # A PNG takes the same whole-pixel path after a full decode.
    png = tf.constant(png_bytes(photo))
    window = tf.constant([10.0, 20.0, 300.0, 300.0])
    crop = tf.io.decode_png(png, channels=3)[10:310, 20:320]
    expected = tf.cast(tf.image.resize(crop, [SIZE, SIZE]), tf.uint8).numpy()
    np.testing.assert_array_equal(decoding.decode_crop(png, window, SIZE).numpy(), expected)
