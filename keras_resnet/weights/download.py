"""Fetching registered weight files into the Keras cache, verified.

The cache is Keras's: ``$KERAS_HOME/models`` (``~/.keras/models`` by
default), so files fetched by ``keras.applications`` are reused and the other
way round. A file is first written to a temporary file in the same folder,
checked (length and hash), then moved into place with ``os.replace``: the
cache never holds a partial or unverified file under a registered name.
"""

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request

from keras_resnet.weights.registry import URL_ENV

_CHUNK = 1 << 20
_TIMEOUT_S = 60


class WeightsDownloadError(OSError):
    """The file could not be fetched: the server is down or refused it."""


class WeightsIntegrityError(ValueError):
    """A file does not match its record: wrong hash, wrong size, truncated."""


def cache_dir():
    """Returns the folder weight files are cached in (``$KERAS_HOME/models``).

    Like Keras: ``$KERAS_HOME`` if set, else ``~/.keras``; if that is not
    writable, ``/tmp/.keras``.
    """
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    base = os.path.expanduser(base)
    probe = base if os.path.exists(base) else os.path.dirname(base.rstrip(os.sep)) or "."
    if not os.access(probe, os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    return os.path.join(base, "models")


def cached_path(record):
    """Returns where ``record``'s file lives in the cache (it may not exist)."""
    return os.path.join(cache_dir(), record.file_name)


def hash_file(path, algorithm="sha256"):
    """Returns the hex digest of a file (``"sha256"`` or ``"md5"``)."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def verify(path, record):
    """Returns ``(ok, actual_hash)`` for a file checked against ``record``."""
    actual = hash_file(path, record.hash_algorithm)
    return actual == record.file_hash.lower(), actual


def fetch(record, *, verbose=True):
    """Returns the path of ``record``'s file in the cache, downloading it if needed.

    A cached file whose hash matches is returned without any network access.
    A cached file that does not match is fetched again.

    Args:
        record: A ``WeightsRecord``.
        verbose: Print the URL and a progress bar while downloading.

    Returns:
        The path of the verified file.

    Raises:
        WeightsDownloadError: The server is unreachable or answered an error;
            the message names the URL and the two ways around it.
        WeightsIntegrityError: The downloaded bytes are truncated or do not
            match the record's size or hash. Nothing is left in the cache.
    """
    path = cached_path(record)
    if os.path.exists(path):
        ok, actual = verify(path, record)
        if ok:
            return path
        _say(
            verbose,
            f"Cached {path} does not match its {record.hash_algorithm} "
            f"(expected {record.file_hash}, found {actual}); downloading it again.",
        )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    url = record.download_url
    fd, tmp = tempfile.mkstemp(
        dir=os.path.dirname(path), prefix=f".{record.file_name}.", suffix=".part"
    )
    try:
        with os.fdopen(fd, "wb") as out:
            received, expected_length, actual = _download(url, out, record, path, verbose)
        if expected_length is not None and received != expected_length:
            raise WeightsIntegrityError(
                f"Download of {record.file_name} from {url} was truncated: "
                f"received {received} of {expected_length} bytes "
                f"({record.hash_algorithm} of what arrived: {actual}, expected "
                f"{record.file_hash}). Nothing was kept; try again."
            )
        if record.size is not None and received != record.size:
            raise WeightsIntegrityError(
                f"{record.file_name} from {url} has {received} bytes, the registry "
                f"says {record.size} ({record.hash_algorithm} {actual}, expected "
                f"{record.file_hash}). Nothing was kept."
            )
        if actual != record.file_hash.lower():
            raise WeightsIntegrityError(
                f"{record.file_name} from {url} does not match its registered "
                f"{record.hash_algorithm}: expected {record.file_hash}, got "
                f"{actual}. The transfer was corrupted or the mirror holds "
                "another file; nothing was kept."
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _download(url, out, record, path, verbose):
    """Streams ``url`` into ``out``; returns (bytes, Content-Length, digest)."""
    hasher = hashlib.new(record.hash_algorithm)
    try:
        response = urllib.request.urlopen(url, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as e:
        reason = f"HTTP {e.code} {e.reason}"
        raise WeightsDownloadError(_cannot_fetch(url, reason, record, path)) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise WeightsDownloadError(_cannot_fetch(url, str(reason), record, path)) from None
    with response:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        _say(verbose, f"Downloading data from {url}")
        progbar = _progbar(length or record.size) if verbose else None
        received = 0
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (OSError, ValueError) as e:
                # http.client raises IncompleteRead (a ValueError) or a socket
                # error when the connection drops mid-body.
                if length is None:
                    raise WeightsIntegrityError(
                        f"Download of {record.file_name} from {url} broke off after "
                        f"{received} bytes ({type(e).__name__}). Nothing was kept; try again."
                    ) from None
                break
            if not chunk:
                break
            out.write(chunk)
            hasher.update(chunk)
            received += len(chunk)
            if progbar is not None:
                progbar.update(received)
    return received, length, hasher.hexdigest()


def _cannot_fetch(url, reason, record, path):
    if os.environ.get(URL_ENV):
        mirror = (
            f"{URL_ENV} is set to {os.environ[URL_ENV]!r}: check that this mirror is "
            f"up and serves {record.file_name} (unset it to use {record.url})"
        )
    else:
        mirror = f"set {URL_ENV} to a mirror that serves {record.file_name}"
    return (
        f"Cannot download {record.file_name} from {url} ({reason}). Either {mirror}, "
        f"or download the file yourself and put it at {path} (its "
        f"{record.hash_algorithm} must be {record.file_hash})."
    )


def _progbar(total):
    if total is None or not sys.stderr.isatty():
        return None
    import keras

    return keras.utils.Progbar(total, unit_name="B")


def _say(verbose, message):
    if verbose:
        print(message, file=sys.stderr)
