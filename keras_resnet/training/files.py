"""Files written atomically: a crash leaves the old file or the new one, never half of one."""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path in ``path``'s folder; renames it to ``path`` on success."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = "".join(os.path.basename(path).partition(".")[1:])  # keeps ".weights.h5"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, obj):
    """Writes ``obj`` as JSON atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)


def save_weights(model, path):
    """``model.save_weights`` atomically."""
    with atomic_path(path) as tmp:
        os.remove(tmp)  # Keras refuses to overwrite without asking otherwise
        model.save_weights(tmp)
