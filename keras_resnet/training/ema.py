"""torchvision's exponential moving average of the weights, updated every N steps.

``--model-ema --model-ema-steps 32 --model-ema-decay 0.99998`` in
torchvision's reference script: every ``every`` optimiser steps the average
moves towards the weights, ``ema = decay * ema + (1 - decay) * w``, with the
flag's decay adjusted so that the average's horizon does not depend on the
batch size, the step interval or the run's length (pycls's rule)::

    adjust = global_batch_size * every / epochs
    decay = 1 - min(1, (1 - flag_decay) * adjust)

During the warm-up epochs the average restarts from the weights at each
update (torchvision resets its count there), so it only averages what
follows the warm-up. It averages the trainable weights and the BatchNorm
statistics (torchvision's ``use_buffers=True``). Keras's optimiser
``use_ema`` updates every step and cannot take this rule, hence this
callback. tests/test_recipe_ingredients.py compares it with
``torch.optim.swa_utils.AveragedModel`` under torchvision's settings.
"""

import os

import keras
import numpy as np

from keras_resnet.training.files import atomic_path


def adjusted_decay(flag_decay, *, batch_size, every, epochs):
    """The per-update decay from the flag's (torchvision's ``train.py``)."""
    alpha = min(1.0, (1.0 - flag_decay) * batch_size * every / epochs)
    return 1.0 - alpha


class ExponentialMovingAverage(keras.callbacks.Callback):
    """Keeps the average of a model's weights; ``swap()`` puts it into the model.

    As torchvision's ``train_one_epoch``: after the optimiser step of batch
    ``i`` of an epoch, when ``i % every == 0``; in the warm-up epochs the
    average is then reset, so the next update starts it afresh. Only the
    floating-point variables are averaged (not a random generator's state).

    With ``path`` the average is saved there at the end of every epoch
    (atomically) and read back when a crashed run resumes; if the file is of
    another epoch than the one the run resumes after, the average restarts.

    Args:
        decay: The per-update decay (``adjusted_decay``).
        every: Batches between two updates.
        warmup_epochs: Epochs during which each update restarts the average.
        path: An ``.npz`` file for the average, or None.
        writes: False to read ``path`` without writing it (a process of a
            multi-process run other than the one that writes the run's files).
    """

    def __init__(self, decay, every, warmup_epochs=0, path=None, writes=True):
        super().__init__()
        self.decay = float(decay)
        self.every = int(every)
        self.warmup_epochs = int(warmup_epochs)
        self.path = path
        self.writes = writes
        self.average = None
        self.updates = 0
        self.epoch = 0
        self._saved_epoch = None

    def update(self, weights):
        """One update from a list of arrays (the model's weights, in order)."""
        if self.updates == 0:
            self.average = [np.array(w, dtype=np.float64) for w in weights]
        else:
            for avg, w in zip(self.average, weights):
                avg *= self.decay
                avg += (1.0 - self.decay) * np.asarray(w, dtype=np.float64)
        self.updates += 1

    def _variables(self):
        return [v for v in self.model.weights if "float" in str(v.dtype)]

    def on_train_begin(self, logs=None):
        if self.path and os.path.exists(self.path):
            with np.load(self.path) as saved:
                self._saved_epoch = int(saved["epoch"])
                self.updates = int(saved["updates"])
                self.average = [saved[f"w{i}"] for i in range(len(self._variables()))]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if self._saved_epoch is not None and self._saved_epoch != epoch - 1:
            print(f"moving average: saved after epoch {self._saved_epoch + 1}, the run resumes "
                  f"after epoch {epoch}; the average restarts")
            self.average, self.updates = None, 0
        self._saved_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if self.path and self.writes and self.average is not None:
            with atomic_path(self.path) as temporary:
                with open(temporary, "wb") as f:
                    np.savez(f, epoch=epoch, updates=self.updates,
                             **{f"w{i}": a for i, a in enumerate(self.average)})

    def after_batch(self, batch, weights):
        """torchvision's rule after batch ``batch`` of the epoch; ``weights`` gives the arrays."""
        if batch % self.every == 0:
            self.update(weights())
            if self.epoch < self.warmup_epochs:
                self.updates = 0

    def on_train_batch_end(self, batch, logs=None):
        self.after_batch(
            batch, lambda: [keras.ops.convert_to_numpy(v) for v in self._variables()]
        )

    def swap(self):
        """Exchanges the model's weights with the average (call twice to undo)."""
        if self.average is None:
            return
        variables = self._variables()
        current = [keras.ops.convert_to_numpy(v) for v in variables]
        for variable, value in zip(variables, self.average):
            variable.assign(value.astype(variable.dtype))
        self.average = [np.array(w, dtype=np.float64) for w in current]
