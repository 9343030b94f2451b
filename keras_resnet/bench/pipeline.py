"""The input pipeline's measurements: images per second per thread, bytes shipped, fit.

Every pipeline reads the same files: ``realistic_jpegs``, crops of
scikit-learn's two sample photographs resized to ImageNet's typical sizes
(shorter side uniform in 333..500 px, aspect ratio around 4:3 or 3:4),
written as quality-90 JPEGs by Pillow with a fixed seed. Smooth or random
images would compress, and so decode, unlike photographs.

Each pipeline is timed at 1 thread, 2 threads and all of them (a private
``tf.data`` thread pool of that size, one thread per op, ``map`` with that
many parallel calls), over whole passes after a warm-up pass, read from one
iterator over the repeated files as ``fit`` reads them; each pipeline
in its own worker process, its thread counts one after the other in it. The
floor is what any pipeline must at least do: decode the whole JPEG and
resize it.

``worker_fit`` trains the same model from files and from a uint8 batch
already in memory; the difference is the time the step waits for data (or,
on a CPU, the cores the pipeline takes from the step).
"""

import os
import statistics
import tempfile
import time

#: The pipelines, in the table's order: name -> label.
PIPELINES = {
    "floor": "floor: decode_jpeg + resize, uint8",
    "float_train": "0.2 float32, paper augmentation",
    "crop_train": "uint8 crop-then-decode, paper augm.",
    "inception": "uint8 random-resized-crop",
    "float_eval": "0.2 float32, evaluation",
    "crop_eval": "uint8 evaluation (centre crop)",
    "shards": "uint8 paper augm., prepared shards",
}

# The bytes-per-batch comparison: what 0.2 shipped and what the package ships now.
BYTES_BATCH = 256
BYTES_PIPELINES = ("float_train", "crop_train")

SHORTER_SIDES = (333, 500)
_CLASSES = 2


def realistic_jpegs(folder, count, *, seed=0):
    """Writes ``count`` photograph-like JPEGs under ``folder``, in 2 class sub-folders.

    Each is a random window of one of scikit-learn's sample photographs
    (427 x 640), resized (Pillow, bilinear) so that its shorter side is
    uniform over ``333..500`` and its aspect ratio uniform in 1.2..1.5
    (landscape three times in four), and saved at quality 90. The same
    ``seed`` gives the same files.

    Returns:
        ``(paths, labels)``: file paths and their class indices.
    """
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    for c in range(_CLASSES):
        os.makedirs(os.path.join(folder, f"class_{c}"), exist_ok=True)
    paths, labels = [], []
    for i in range(count):
        photo = photos[i % len(photos)]
        shorter = int(rng.integers(SHORTER_SIDES[0], SHORTER_SIDES[1] + 1))
        longer = round(shorter * rng.uniform(1.2, 1.5))
        height, width = (longer, shorter) if rng.random() < 0.25 else (shorter, longer)
        # The source window has the output's aspect ratio and is 60% to 100%
        # of the largest that fits.
        h = min(photo.shape[0], photo.shape[1] * height / width) * rng.uniform(0.6, 1.0)
        w = h * width / height
        top = rng.uniform(0, photo.shape[0] - h)
        left = rng.uniform(0, photo.shape[1] - w)
        image = Image.fromarray(photo).resize(
            (width, height), Image.BILINEAR, box=(left, top, left + w, top + h)
        )
        label = i % _CLASSES
        path = os.path.join(folder, f"class_{label}", f"{i:05d}.jpg")
        image.save(path, format="JPEG", quality=90)
        paths.append(path)
        labels.append(label)
    return paths, labels


def thread_counts():
    """1, 2 and every core, each once: ``[1, 2]`` on a 2-core machine."""
    return sorted({1, 2, os.cpu_count() or 1})


def _element_function(name, size):
    """The per-element function of pipeline ``name`` (a path, or shard contents and label)."""
    import tensorflow as tf

    from keras_resnet import data
    from keras_resnet.data import transforms

    if name == "floor":

        def floor(path):
            image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
            return tf.cast(tf.image.resize(image, [size, size]), tf.uint8)

        return floor
    if name == "float_train":
        scale = (round(256 * size / 224), round(480 * size / 224))
        return lambda path: transforms.preprocess(
            transforms.imagenet_train_transform(
                transforms.decode_image(path), size=size, scale=scale
            ),
            "caffe",
        )
    if name == "float_eval":
        return lambda path: transforms.preprocess(
            transforms.imagenet_eval_transform(
                transforms.decode_image(path), size=size, resize=round(256 * size / 224)
            ),
            "caffe",
        )
    if name == "crop_eval":
        transform = data.eval_transform("imagenet", image_size=size)
    else:
        augmentation = "inception" if name == "inception" else "imagenet"
        transform = data.training_transform(augmentation, image_size=size)
    if name == "shards":
        return lambda contents, label: transform.decode(contents)
    return lambda path: transform.decode(tf.io.read_file(path))


def _with_threads(dataset, threads):
    import tensorflow as tf

    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    return dataset.with_options(options)


def _passes(dataset, batches, repeats):
    """Wall and CPU seconds of ``repeats`` passes of ``batches`` batches, after a warm-up pass.

    One iterator over the repeated dataset, as training reads it: a new
    iterator per pass would add its start (graph rewrites, thread pool, the
    first batch made from nothing) to every pass.
    """
    iterator = iter(dataset)

    def one_pass():
        for _ in range(batches):
            next(iterator)

    one_pass()  # Warm-up: tracing, the file cache.
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        one_pass()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return times, cpu_times


def worker_pipeline(sizes, name):
    """Images per second of pipeline ``name`` at each thread count, on ``realistic_jpegs``.

    Returns:
        ``threads``: ``{"1": {"median", "runs", "per_thread", "per_cpu_second"}, ...}``;
        ``median``: the rate with every core; the files' count and size;
        for ``BYTES_PIPELINES``, the dtype, shape and bytes of a real batch
        of ``BYTES_BATCH``.
    """
    import tensorflow as tf

    from keras_resnet import data

    size, batch = sizes["pipeline_size"], sizes["pipeline_batch"]
    if sizes["pipeline_images"] % batch:
        raise ValueError(
            "`pipeline_images` should be a multiple of `pipeline_batch`, so that a pass is "
            f"whole batches. Received: {sizes['pipeline_images']} and {batch}"
        )
    function = _element_function(name, size)
    with tempfile.TemporaryDirectory() as folder:
        images = os.path.join(folder, "images")
        paths, _ = realistic_jpegs(images, sizes["pipeline_images"])
        if name == "shards":
            # Prepared once, outside the timing, as `keras-resnet prepare` would
            # (files with a shorter side over 480 px are stored re-encoded at 480).
            index = data.prepare_shards(
                images, os.path.join(folder, "shards"), images_per_shard=64,
                progress=lambda *a: None,
            )
            source = data.shard_records(index.splits["train"])
        else:
            source = tf.data.Dataset.from_tensor_slices(tf.constant(paths))
        result = {
            "label": PIPELINES[name],
            "images": len(paths),
            "file_bytes": sum(os.path.getsize(p) for p in paths),
            "size": size,
            "cpu_count": os.cpu_count(),
            "threads": {},
        }
        for threads in thread_counts():
            dataset = source.repeat().map(function, num_parallel_calls=threads)
            dataset = _with_threads(dataset.batch(batch).prefetch(tf.data.AUTOTUNE), threads)
            times, cpu_times = _passes(dataset, len(paths) // batch, sizes["pipeline_repeats"])
            rates = [len(paths) / s for s in times]
            median = statistics.median(rates)
            result["threads"][str(threads)] = {
                "median": median, "runs": rates, "per_thread": median / threads,
                # Images per CPU-second of the whole process: less sensitive to other load.
                "per_cpu_second": statistics.median(len(paths) / s for s in cpu_times),
            }
        result["median"] = result["threads"][str(thread_counts()[-1])]["median"]
        if name in BYTES_PIPELINES:
            big = source.repeat().map(function, num_parallel_calls=thread_counts()[-1])
            big = _with_threads(big.batch(BYTES_BATCH), thread_counts()[-1])
            x = next(iter(big))
            result["batch"] = {
                "dtype": x.dtype.name,
                "shape": x.shape.as_list(),
                "bytes": x.numpy().nbytes,
            }
    return result


def worker_fit(sizes, source):
    """Images per second of ``fit`` reading ``source``: ``"files"`` or ``"synthetic"``.

    The model takes uint8 and augments on the device
    (``data.device_augmentation("imagenet")``); it is compiled plainly (SGD
    with momentum, sparse cross-entropy, Keras's default ``jit_compile``),
    the same on both sides, so that only the input differs. ``"files"``:
    ``data.make_dataset`` over ``realistic_jpegs`` with the paper's
    augmentation, shuffled, repeated. ``"synthetic"``: one random uint8 batch
    of the same shape, already in memory, repeated. Each step is timed
    between ``on_train_batch_begin`` and ``_end`` (it includes taking the
    batch from the iterator); warm-up steps are excluded.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_resnet import data, training

    size, batch = sizes["fit_size"], sizes["fit_batch"]
    warmup, steps = sizes["fit_warmup"], sizes["fit_steps"]
    model = training.build_model(
        sizes["fit_model"], classes=_CLASSES, image_size=size,
        input_preprocessing=data.device_augmentation("imagenet"),
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
        loss="sparse_categorical_crossentropy",
    )
    times, cpu_times = [], []

    with tempfile.TemporaryDirectory() as folder:
        if source == "files":
            paths, labels = realistic_jpegs(folder, sizes["pipeline_images"])
            dataset = data.make_dataset(
                paths, labels, transform=data.training_transform("imagenet", image_size=size),
                batch_size=batch, shuffle=True, drop_remainder=True,
            ).repeat()
        else:
            rng = np.random.default_rng(0)
            x = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
            y = rng.integers(0, _CLASSES, batch).astype(np.int32)
            dataset = tf.data.Dataset.from_tensors((x, y)).repeat()
        model.fit(
            dataset, epochs=1, steps_per_epoch=warmup + steps, shuffle=False, verbose=0,
            callbacks=[step_timer(times, cpu_times)],
        )
    rate = batch / statistics.median(times[warmup:])
    return {
        "median": rate,
        "runs": [batch / t for t in times[warmup:]],
        "per_cpu_second": batch / statistics.median(cpu_times[warmup:]),
        "warmup_seconds": times[:warmup],
        "model": sizes["fit_model"],
        "size": size,
        "batch": batch,
        "steps": steps,
        "jit_compile": bool(model.jit_compile),
    }


def step_timer(times, cpu_times):
    """A callback appending each training step's wall and CPU seconds to the two lists."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start, self.cpu_start = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)
            cpu_times.append(time.process_time() - self.cpu_start)

    return StepTimer()
