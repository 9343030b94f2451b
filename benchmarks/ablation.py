"""Where the fast path's time goes: four ResNet-50 forward passes in ONE process, interleaved.

The harness (bench.py) runs each configuration in its own process, as a fair
comparison needs; while other processes load the CPU, though, the load can
change between two processes more than the configurations differ. Here the
candidates take turns within one process, so each round sees the same load:

- ``predict``: keras.applications ``model.predict`` (Keras's defaults);
- ``tf.function``: the same model called through one ``tf.function``;
- ``folded``: BatchNorm folded into the convolutions (``fold_batch_norms``);
- ``folded_jit``: the same with XLA (``jit_compile=True``).

Usage: python benchmarks/ablation.py  (TensorFlow backend, 224 px, batch 32)
"""

import time

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.deploy import fold_batch_norms


def main(rounds=4, batch=32, size=224):
    model = keras.applications.ResNet50(weights=None)
    x = np.random.rand(batch, size, size, 3).astype("float32")
    xt = tf.constant(x)
    folded = fold_batch_norms(model)
    plain = tf.function(lambda x: model(x, training=False))
    fast = tf.function(lambda x: folded(x, training=False))
    fast_jit = tf.function(lambda x: folded(x, training=False), jit_compile=True)
    candidates = {
        "predict": lambda: model.predict(x, batch_size=batch, verbose=0),
        "tf.function": lambda: plain(xt).numpy(),
        "folded": lambda: fast(xt).numpy(),
        "folded_jit": lambda: fast_jit(xt).numpy(),
    }
    for call in candidates.values():  # Warm-up: tracing and compilation.
        call()
    rates = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, call in candidates.items():
            start = time.perf_counter()
            call()
            rates[name].append(batch / (time.perf_counter() - start))
    for name, values in rates.items():
        print(f"{name:<12} {np.median(values):6.1f} img/s  runs {[round(v, 1) for v in values]}")


if __name__ == "__main__":
    main()
