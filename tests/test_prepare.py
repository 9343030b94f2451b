"""``keras-resnet prepare``: sharded TFRecords, read back, resumed after a kill, refused when damaged."""

import functools
import io
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from keras_resnet import cli, data

SIDE = 200  # the shorter side the shared folder is prepared with
PER_SHARD = 8


@functools.cache
def _photos():
    from sklearn.datasets import load_sample_images

    return load_sample_images().images  # two 427 x 640 photographs


def _photo(height, width, seed=0):
    """A crop of one of scikit-learn's two photographs, resized to (height, width)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    photo = _photos()[seed % 2]
    top, left = rng.integers(0, 100), rng.integers(0, 200)
    crop = Image.fromarray(photo[top : top + 300, left : left + 400])
    return crop.resize((width, height), Image.BILINEAR)


def _chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png16(pixels):
    """A 16-bit RGB PNG (PIL cannot write one): each uint8 value v stored as v * 257."""
    height, width, _ = pixels.shape
    wide = pixels.astype(np.uint16) * 257
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in wide)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def _write_source(root):
    """train/ and val/ with cat, dog, fox: photographs of shorter side 100..400, odd formats, bad files.

    Returns ``{name: path}`` of the special files.
    """
    special = {}
    for split, n in (("train", 10), ("val", 2)):
        for c, name in enumerate(("cat", "dog", "fox")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                side = 100 + (i * 37 + c * 11) % 300
                image = _photo(side, side * 4 // 3, seed=10 * c + i)
                image.save(folder / f"{i:02d}.jpg", quality=92)
    from PIL import Image

    train = root / "train"
    rgba = _photo(150, 180, seed=1).convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, 180, dtype=np.uint8), (150, 1))
    rgba.putalpha(Image.fromarray(alpha))
    special["rgba"] = train / "cat" / "rgba.png"
    rgba.save(special["rgba"])
    special["png16"] = train / "cat" / "deep.png"
    special["png16"].write_bytes(_png16(np.asarray(_photo(120, 160, seed=2))))
    special["gray"] = train / "dog" / "gray.jpg"
    _photo(140, 170, seed=3).convert("L").save(special["gray"], quality=92)
    special["gray_large"] = train / "dog" / "gray_large.jpg"
    _photo(300, 360, seed=4).convert("L").save(special["gray_large"], quality=92)
    special["cmyk"] = train / "fox" / "cmyk.jpg"
    _photo(130, 170, seed=5).convert("CMYK").save(special["cmyk"], "JPEG", quality=95)
    # Unreadable: nothing, the first half of a JPEG, text named .jpg.
    special["empty"] = train / "cat" / "empty.jpg"
    special["empty"].write_bytes(b"")
    good = (train / "dog" / "00.jpg").read_bytes()
    special["truncated"] = train / "dog" / "truncated.jpg"
    special["truncated"].write_bytes(good[: len(good) // 2])
    special["text"] = train / "fox" / "notes.jpg"
    special["text"].write_text("not an image\n")
    return special


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepare")
    special = _write_source(root / "src")
    lines = []
    index = data.prepare_shards(
        root / "src", root / "dst", shorter_side=SIDE, images_per_shard=PER_SHARD,
        progress=lines.append,
    )
    return root / "src", root / "dst", index, special, lines


def _records(path):
    """(filename, label, contents) of every record of one shard, in order."""
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/class/label": tf.io.FixedLenFeature([], tf.int64),
        "image/filename": tf.io.FixedLenFeature([], tf.string),
    }
    out = []
    for record in tf.data.TFRecordDataset(path):
        f = tf.io.parse_single_example(record, spec)
        out.append((f["image/filename"].numpy().decode(), int(f["image/class/label"]),
                    f["image/encoded"].numpy()))
    return out


def _stored(dst_index, split):
    return {name: (label, contents) for shard in dst_index.splits[split]
            for name, label, contents in _records(shard.path)}


def test_every_file_once_with_its_folder_label_and_counts(prepared):
    src, dst, index, special, _ = prepared
    bad = {special[k].name for k in ("empty", "truncated", "text")}
    assert index.class_names == ["cat", "dog", "fox"]
    for split in ("train", "val"):
        expected = sorted(
            f"{c}/{f}" for c in index.class_names for f in os.listdir(src / split / c) if f not in bad
        )
        names = [name for shard in index.splits[split] for name, _, _ in _records(shard.path)]
        assert sorted(names) == expected  # each exactly once
        stored = _stored(index, split)
        for name, (label, _) in stored.items():
            assert index.class_names[label] == name.split("/")[0]
        counts = np.bincount([label for label, _ in stored.values()], minlength=3)
        with open(dst / "index.json") as f:
            import json

            recorded = json.load(f)["splits"][split]
        assert recorded["class_counts"] == counts.tolist()
        assert index.counts[split] == len(expected) == sum(s.records for s in index.splits[split])
    # 38 training files, 8 a shard: 5 shards, the plan shuffled so each mixes the classes.
    assert [os.path.basename(s.path) for s in index.splits["train"]] == [
        f"train-{i:05d}-of-00005.tfrecord" for i in range(5)
    ]
    for shard in index.splits["train"][:4]:
        assert len({label for _, label, _ in _records(shard.path)}) >= 2


def test_large_images_downscaled_small_jpegs_kept_byte_identical(prepared):
    src, _, index, special, _ = prepared
    odd = {p.name for p in special.values()}
    smaller = larger = 0
    for name, (_, contents) in _stored(index, "train").items():
        if os.path.basename(name) in odd:
            continue
        original = (src / "train" / name).read_bytes()
        h, w, _ = tf.io.extract_jpeg_shape(original).numpy()
        if min(h, w) <= SIDE:
            assert contents == original, name
            smaller += 1
        else:
            stored_h, stored_w, channels = tf.io.extract_jpeg_shape(contents).numpy()
            assert min(stored_h, stored_w) == SIDE and channels == 3, name
            assert abs(stored_w / stored_h - w / h) < 0.01
            larger += 1
    assert smaller >= 5 and larger >= 5


def _pil_rgb(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32)


def test_png_alpha_16_bit_cmyk_and_grayscale_become_readable_jpegs(prepared):
    _, _, index, special, _ = prepared
    stored = _stored(index, "train")

    def get(key):
        return stored[f"{special[key].parent.name}/{special[key].name}"][1]

    # Re-encoded as 3-channel JPEGs whose pixels are PIL's RGB decoding of the
    # source, up to JPEG's loss. PNG alpha is dropped, not composited (as PIL's
    # convert("RGB") does); 16-bit values are cut to their high byte.
    for key in ("rgba", "png16", "cmyk"):
        contents = get(key)
        assert tf.io.is_jpeg(contents) and tf.io.extract_jpeg_shape(contents)[2] == 3, key
        pixels = tf.io.decode_jpeg(contents, channels=3).numpy().astype(np.float32)
        assert np.abs(pixels - _pil_rgb(special[key])).mean() < 6, key
    # The CMYK JPEG is read by TensorFlow as by PIL (PIL writes Adobe's inverted
    # CMYK, and both decoders undo it), not as a negative.
    assert tf.io.extract_jpeg_shape(special["cmyk"].read_bytes())[2] == 4
    # A small grayscale JPEG is stored as it is (one channel; the readers ask
    # libjpeg for RGB); a large one is converted to RGB at the shorter side.
    assert get("gray") == special["gray"].read_bytes()
    rgb = tf.io.decode_jpeg(get("gray"), channels=3).numpy().astype(np.float32)
    assert rgb.shape[2] == 3 and np.abs(rgb - _pil_rgb(special["gray"])).mean() < 1
    large = get("gray_large")
    assert list(tf.io.extract_jpeg_shape(large).numpy()) == [SIDE, 240, 3]
    pixels = tf.io.decode_jpeg(large).numpy().astype(np.float32)
    assert np.abs(pixels[..., 0] - pixels[..., 2]).max() < 4  # still gray


def test_unreadable_files_are_skipped_and_reported(prepared):
    _, _, index, special, lines = prepared
    reasons = dict(index.skipped["train"])
    assert sorted(reasons) == ["cat/empty.jpg", "dog/truncated.jpg", "fox/notes.jpg"]
    assert index.skipped["val"] == []
    assert "empty" in reasons["cat/empty.jpg"].lower()
    assert "Unknown image file format" in reasons["fox/notes.jpg"]
    # The first half of a JPEG: its header is whole (the shape reads), but
    # TensorFlow refuses to decode it rather than fill the rest with gray.
    truncated = special["truncated"].read_bytes()
    assert tf.io.extract_jpeg_shape(truncated).shape == (3,)
    assert "jpeg::Uncompress failed" in reasons["dog/truncated.jpg"]
    for key in ("empty", "truncated", "text"):
        assert any(str(special[key]) in line for line in lines), key
    assert "prepare: skipped 3 unreadable file(s)" in lines


def test_empty_class_folder_is_refused_in_one_line(tmp_path):
    _write_small_source(tmp_path / "src")
    (tmp_path / "src" / "owl").mkdir()
    with pytest.raises(ValueError, match="Class folder 'owl' has no JPEG or PNG images") as e:
        data.prepare_shards(tmp_path / "src", tmp_path / "dst", progress=None)
    assert len(str(e.value).splitlines()) == 1
    assert not data.is_prepared(tmp_path / "dst")


def _write_small_source(root, n=3, *, full_size=False):
    """Classes a, b, c of ``n`` copies of one JPEG each (60-80 px, or 427 x 640)."""
    from PIL import Image

    for c, name in enumerate(("a", "b", "c")):
        (root / name).mkdir(parents=True)
        photo = Image.fromarray(_photos()[c % 2]) if full_size else _photo(60 + 10 * c, 80, seed=c)
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=90)
        for i in range(n):
            (root / name / f"{i:03d}.jpg").write_bytes(buffer.getvalue())
    return root


def test_damaged_shards_are_refused_then_repaired_by_a_rerun(prepared, tmp_path):
    src, dst, index, _, _ = prepared
    copy = tmp_path / "dst"
    shutil.copytree(dst, copy)
    truncated, foreign = copy / "train-00001-of-00005.tfrecord", copy / "train-00003-of-00005.tfrecord"
    original = truncated.read_bytes(), foreign.read_bytes()
    truncated.write_bytes(original[0][: len(original[0]) // 2])
    with pytest.raises(ValueError, match="truncated or replaced") as e:
        data.read_index(copy)
    assert str(truncated) in str(e.value) and len(str(e.value).splitlines()) == 1
    truncated.write_bytes(original[0])
    shutil.copyfile(src / "train" / "cat" / "00.jpg", foreign)
    with pytest.raises(ValueError, match="rerun keras-resnet prepare") as e:
        data.read_index(copy)
    assert str(foreign) in str(e.value)
    foreign.unlink()
    with pytest.raises(ValueError, match="is missing"):
        data.read_index(copy)
    # The same prepare again rewrites what is damaged, identically.
    lines = []
    data.prepare_shards(src, copy, shorter_side=SIDE, images_per_shard=PER_SHARD, progress=lines.append)
    assert lines[0] == f"prepare: shard {foreign} is missing, expected {len(original[1])} bytes; " \
        "rerun keras-resnet prepare; rewriting what is damaged"
    assert lines[1] == "prepare: resuming, 5 of 6 shards already written"
    assert re.fullmatch(r"prepare: wrote train-00003-of-00005.tfrecord \(\d+ images\) \[6/6\]", lines[2])
    assert data.read_index(copy).splits == {
        split: [data.ShardFile(str(copy / os.path.basename(s.path)), s.records, s.bytes) for s in files]
        for split, files in index.splits.items()
    }
    assert foreign.read_bytes() == original[1]
    (copy / "index.json").write_text('{"format": "something/else"}')
    with pytest.raises(ValueError, match="not a keras-resnet shard index"):
        data.read_index(copy)
    (copy / "index.json").unlink()
    with pytest.raises(ValueError, match="index.json not found"):
        data.read_index(copy)


def test_killed_prepare_resumes_where_it_stopped(tmp_path, capsys):
    src = _write_small_source(tmp_path / "src", n=40, full_size=True)  # 120 images, 30 shards
    dst = tmp_path / "dst"
    argv = ["prepare", str(src), str(dst), "--images-per-shard", "4", "--workers", "1",
            "--shorter-side", "32"]
    process = subprocess.Popen([sys.executable, "-m", "keras_resnet", *argv],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    # A shard's done marker comes after its file: poll for the marker.
    while not list(dst.glob(".done/*.tfrecord.json")):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    assert not (dst / "index.json").exists()
    with pytest.raises(ValueError, match="not found"):
        data.read_index(dst)
    done = len(list(dst.glob(".done/*.tfrecord.json")))
    assert 1 <= done <= len(list(dst.glob("*.tfrecord"))) < 30

    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert f"prepare: resuming, {done} of 30 shards already written" in out, out
    assert out.count("prepare: wrote") == 30 - done
    index = data.read_index(dst)
    names = [name for shard in index.splits["train"] for name, _, _ in _records(shard.path)]
    assert sorted(names) == sorted(f"{c}/{i:03d}.jpg" for c in "abc" for i in range(40))
    assert not [p for p in dst.rglob("*") if ".tmp-" in p.name]


def test_rerun_refused_with_other_settings_overwrite_and_already_prepared(tmp_path, capsys):
    src = _write_small_source(tmp_path / "src")
    dst = str(tmp_path / "dst")
    assert cli.main(["prepare", str(src), dst, "--images-per-shard", "4", "--workers", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [f"prepared {dst}: train 9 images in 3 shards; 0 skipped",
                        f"train with: keras-resnet train --data {dst}"]

    assert cli.main(["prepare", str(src), dst, "--images-per-shard", "4"]) == 0
    assert f"prepare: {dst} is already prepared" in capsys.readouterr().out

    status = cli.main(["prepare", str(src), dst, "--images-per-shard", "4", "--shorter-side", "256"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert "shorter_side 480 (now 256)" in err and "--overwrite" in err

    os.utime(src / "a" / "000.jpg", ns=(0, 0))  # the source changed
    assert cli.main(["prepare", str(src), dst, "--images-per-shard", "4"]) == 2
    assert "other source files" in capsys.readouterr().err

    assert cli.main(["prepare", str(src), dst, "--images-per-shard", "5", "--overwrite"]) == 0
    assert "train 9 images in 2 shards" in capsys.readouterr().out
    assert sorted(os.listdir(dst)) == [
        ".done", "index.json", "prepare.json",
        "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord",
    ]
    assert data.read_index(dst).shorter_side == 480


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["prepare", "--help"])
    assert e.value.code == 0
    assert "usage: keras-resnet prepare [-h]" in capsys.readouterr().out


@pytest.mark.parametrize(
    "option, value, message",
    [("--quality", "0", "--quality must be in 1..100. Received: 0"),
     ("--images-per-shard", "-1", "--images-per-shard must be positive. Received: -1"),
     ("--workers", "0", "--workers must be positive")],
)
def test_cli_bad_values_are_one_line(tmp_path, capsys, option, value, message):
    src = _write_small_source(tmp_path / "src", n=1)
    status = cli.main(["prepare", str(src), str(tmp_path / "dst"), option, value])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "dst").exists()
    status = cli.main(["prepare", str(tmp_path / "nowhere"), str(tmp_path / "dst")])
    assert status == 2 and "source folder not found" in capsys.readouterr().err


def test_worker_shards_give_every_shard_to_exactly_one_worker():
    for n in range(1, 21):
        files = [f"s{i}" for i in range(n)]
        for workers in range(1, n + 1):
            parts = [data.worker_shards(files, w, workers) for w in range(workers)]
            assert sorted(f for part in parts for f in part) == sorted(files)
            assert all(parts) and max(map(len, parts)) - min(map(len, parts)) <= 1
        with pytest.raises(ValueError, match=f"{n} shard file\\(s\\) for {n + 1} input workers"):
            data.worker_shards(files, 0, n + 1)
    with pytest.raises(ValueError, match="worker_index"):
        data.worker_shards(["a", "b"], 2, 2)


def test_shard_records_in_order_or_shuffled(prepared):
    _, _, index, _, _ = prepared
    files = index.splits["train"]
    expected = [(contents, label) for s in files for _, label, contents in _records(s.path)]
    ordered = data.shard_records(files)
    assert ordered.element_spec == (tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32))
    assert [(c.numpy(), int(y)) for c, y in ordered] == expected
    shuffled = [(c.numpy(), int(y)) for c, y in data.shard_records(files, shuffle=True, seed=1)]
    assert shuffled != expected and sorted(shuffled) == sorted(expected)
    # Worker 1 of 2 reads shards 1 and 3, in that order.
    second = [(c.numpy(), int(y)) for c, y in data.shard_records(files, worker_index=1, num_workers=2)]
    assert second == [(c, y) for s in (files[1], files[3]) for _, y, c in _records(s.path)]
    policy = ordered.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.OFF


# --- Issue 21: sizes claimed by headers, shards with flipped bytes ------------------


def test_an_image_claiming_a_huge_size_is_left_out_in_one_line(tmp_path, capfd, monkeypatch):
    from test_data import huge_jpeg, huge_png

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")  # as a fresh `keras-resnet` sets it
    src = _write_small_source(tmp_path / "src")
    huge = [huge_jpeg(src / "a" / "huge.jpg"), huge_png(src / "b" / "huge.png")]
    truncated = src / "c" / "truncated.jpg"
    whole = (src / "c" / "000.jpg").read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    dst = tmp_path / "dst"
    assert cli.main(["prepare", str(src), str(dst), "--images-per-shard", "4"]) == 0
    out, err = capfd.readouterr()
    for path in huge:
        said = [line for line in (out + err).splitlines() if path in line]
        assert said == [
            f"prepare: skipped unreadable image {path}: its header claims 50000 x 50000 "
            "pixels, more than the 178,956,970 an image may have; not decoded"
        ]
    assert len([line for line in out.splitlines() if str(truncated) in line]) == 1
    assert "JPEG library" not in out + err  # libjpeg's own line about the truncated file
    assert data.read_index(dst).counts == {"train": 9}


def test_a_shard_with_flipped_bytes_is_named_in_one_line_and_a_rerun_repairs_it(tmp_path, capsys):
    src = _write_small_source(tmp_path / "src", n=4)  # 12 images, 6 shards
    dst = tmp_path / "dst"
    prepare = ["prepare", str(src), str(dst), "--images-per-shard", "2", "--workers", "1"]
    assert cli.main(prepare) == 0
    shard = dst / "train-00001-of-00006.tfrecord"
    original = shard.read_bytes()
    flipped = bytearray(original)
    middle = len(flipped) // 2
    flipped[middle : middle + 40] = bytes(b ^ 0xFF for b in flipped[middle : middle + 40])
    shard.write_bytes(bytes(flipped))
    assert data.read_index(dst)  # the same size: the index's check cannot see it
    capsys.readouterr()

    status = cli.main([
        "train", "--data", str(dst), "--model", "small-resnet", "--image-size", "16",
        "--epochs", "1", "--batch-size", "2", "--run-dir", str(tmp_path / "run"), "--verbose", "0",
    ])
    err = capsys.readouterr().err.strip()
    assert status != 0
    assert len(err.splitlines()) == 1, err
    assert re.fullmatch(
        rf"keras-resnet train: error: shard {re.escape(str(shard))} is damaged \(corrupted "
        r"record at \d+\); rerun keras-resnet prepare to rewrite it", err
    ), err

    # What the line says to do repairs it: the shard is written again, identically.
    assert cli.main(prepare) == 0
    out = capsys.readouterr().out
    assert f"prepare: shard {shard} is damaged (corrupted record at" in out
    assert "prepare: resuming, 5 of 6 shards already written" in out
    assert shard.read_bytes() == original
    assert cli.main(prepare) == 0
    assert "is already prepared" in capsys.readouterr().out


def _files(folder):
    """``{relative path: bytes}`` of every file under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _prepare_process(argv, hash_seed):
    # Each process its own string-hash seed, as two runs of the command have.
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    return subprocess.Popen([sys.executable, "-m", "keras_resnet", *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_killed_and_resumed_prepare_writes_the_same_bytes_as_one_run(tmp_path):
    src = _write_small_source(tmp_path / "src", n=8)  # 24 images, 12 shards
    argv = ["--images-per-shard", "2", "--workers", "2", "--shorter-side", "40"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    one_run = _prepare_process(["prepare", str(src), str(whole), *argv], hash_seed=1)
    killed = _prepare_process(["prepare", str(src), str(resumed), *argv], hash_seed=2)
    deadline = time.monotonic() + 120
    while not list(resumed.glob(".done/*.tfrecord.json")):
        assert killed.poll() is None, killed.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert one_run.wait() == 0, one_run.stderr.read().decode()
    assert not (resumed / "index.json").exists()
    rerun = _prepare_process(["prepare", str(src), str(resumed), *argv], hash_seed=3)
    assert rerun.wait() == 0, rerun.stderr.read().decode()
    for process in (one_run, killed, rerun):
        process.stderr.close()
    expected, got = _files(whole), _files(resumed)
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if got[name] != expected[name]] == []


def _assert_stopped_cleanly(dst, err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.fullmatch(
        rf"keras-resnet prepare: error: the disk holding {re.escape(str(dst))} is full; \d+ of "
        r"\d+ shards are written and kept: free some space and run the same command again to "
        r"resume", lines[0]), lines[0]
    assert not [p for p in dst.rglob("*") if ".tmp-" in p.name]
    shard_files = sorted(p.name for p in dst.glob("*.tfrecord"))
    assert shard_files == sorted(p.name[: -len(".json")] for p in dst.glob(".done/*.json"))
    assert not (dst / "index.json").exists()
    return int(lines[0].split("; ")[1].split()[0])


def test_a_full_disk_stops_in_one_line_and_a_rerun_resumes(tmp_path, capsys, monkeypatch):
    src = _write_small_source(tmp_path / "src", n=4)  # 12 images, 6 shards
    argv = ["--images-per-shard", "2", "--workers", "1", "--shorter-side", "40"]
    assert cli.main(["prepare", str(src), str(tmp_path / "whole"), *argv]) == 0
    writer, written = tf.io.TFRecordWriter, []

    class FillingWriter(writer):
        """Fails as TensorFlow does on a full disk, at the fifth record."""

        def write(self, record):
            if len(written) == 4:
                raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
            written.append(record)
            super().write(record)

    monkeypatch.setattr(tf.io, "TFRecordWriter", FillingWriter)
    dst = tmp_path / "dst"
    capsys.readouterr()
    assert cli.main(["prepare", str(src), str(dst), *argv]) == 1
    assert _assert_stopped_cleanly(dst, capsys.readouterr().err) == 2
    monkeypatch.setattr(tf.io, "TFRecordWriter", writer)
    assert cli.main(["prepare", str(src), str(dst), *argv]) == 0
    assert "prepare: resuming, 2 of 6 shards already written" in capsys.readouterr().out
    assert _files(dst) == _files(tmp_path / "whole")


def test_a_real_full_disk_stops_in_one_line_and_a_rerun_resumes(tmp_path, capsys):
    src = _write_small_source(tmp_path / "src", n=6)  # 18 images, 9 shards
    argv = ["--images-per-shard", "2", "--workers", "2", "--shorter-side", "40"]
    assert cli.main(["prepare", str(src), str(tmp_path / "whole"), *argv]) == 0
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs is not permitted here")
    try:
        # Leave room for about three shards and their markers (a page each).
        stat = os.statvfs(disk)
        (disk / "filler").write_bytes(b"\0" * ((stat.f_bavail - 7) * stat.f_frsize))
        dst = disk / "dst"
        capsys.readouterr()
        assert cli.main(["prepare", str(src), str(dst), *argv]) == 1
        kept = _assert_stopped_cleanly(dst, capsys.readouterr().err)
        assert kept < 9
        (disk / "filler").unlink()
        assert cli.main(["prepare", str(src), str(dst), *argv]) == 0
        assert f"prepare: resuming, {kept} of 9 shards already written" in capsys.readouterr().out
        assert _files(dst) == _files(tmp_path / "whole")
    finally:
        subprocess.run(["umount", str(disk)], check=True)
