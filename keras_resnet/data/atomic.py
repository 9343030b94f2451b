"""Atomic JSON files: written whole or not at all, for the index, markers and caches.

A temporary file beside the target (``<name>.tmp-<pid>``: one writer per
path in a process), flushed and synced, then renamed over it: a reader, or
a rerun after a kill, sees the old file or the new one, never half of one.
"""

import json
import os


def write_json(path, obj, **dump_options):
    """Writes ``obj`` to ``path`` as JSON atomically (``dump_options`` go to ``json.dump``)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, **dump_options)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
