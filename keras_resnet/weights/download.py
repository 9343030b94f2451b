"""Fetching registered weight files into the Keras cache, verified and bounded.

The cache is Keras's: ``$KERAS_HOME/models`` (``~/.keras/models`` by
default), so files fetched by ``keras.applications`` are reused and the other
way round. A file is first written to a temporary ``.part`` file in the same
folder, checked (length and hash), then moved into place with ``os.replace``:
the cache never holds a partial or unverified file under a registered name.

A download is bounded, so that a slow, broken or hostile server cannot hold
a process or fill a disk:

* in time: the whole download must finish within
  ``KERAS_RESNET_DOWNLOAD_TIMEOUT`` seconds (default 3600), not only each read
  (checked after every read; one read waits at most a minute);
* in size: reading stops past the record's ``size``, else the server's
  Content-Length, else ``MAX_UNKNOWN_SIZE``;
* on disk: ``.part`` files that killed downloads left behind are removed
  before the same entry is downloaded again.

Environment:
    KERAS_RESNET_WEIGHTS_URL: A mirror's base URL (``http(s)://`` or
        ``file://``); plain ``http://`` works but warns once per process.
    KERAS_RESNET_DOWNLOAD_TIMEOUT: The deadline of one download, in seconds.
    KERAS_HOME: Moves the cache, as in Keras.
"""

import dataclasses
import hashlib
import math
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings

from keras_resnet._files import create_temporary
from keras_resnet.weights.registry import URL_ENV, WeightsRecord

#: Sets the deadline of one whole download, in seconds.
TIMEOUT_ENV = "KERAS_RESNET_DOWNLOAD_TIMEOUT"
#: The default deadline: time for a 500 MB file over a 1.1 Mbit/s link.
DEFAULT_TIMEOUT_S = 3600
#: The most bytes read for a file of unknown size (no ``size`` in its record,
#: no Content-Length from the server); the largest ResNet file is 240 MB.
MAX_UNKNOWN_SIZE = 2 << 30

_CHUNK = 1 << 20
# How long one read may wait. A live download therefore writes to its .part
# file at least this often; one untouched for _STALE_AFTER_S belongs to a
# killed process (a margin for a busy disk or a paused machine).
_READ_TIMEOUT_S = 60
_STALE_AFTER_S = 10 * _READ_TIMEOUT_S
_PART_SUFFIX = ".part"
_warned_plain_http = False


class WeightsDownloadError(OSError):
    """The file could not be fetched: the server is down, refused it, or was too slow."""


class WeightsIntegrityError(ValueError):
    """A file does not match its record: wrong hash, wrong size, truncated."""


class WeightsSettingError(WeightsDownloadError, ValueError):
    """An environment variable that steers downloads holds an unusable value.

    Both a ``WeightsDownloadError`` (nothing can be fetched) and a
    ``ValueError`` (a bad value, named with what it held).
    """


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
    return record.matches(actual), actual


def download_timeout():
    """Returns the deadline of one download in seconds (``KERAS_RESNET_DOWNLOAD_TIMEOUT``).

    Raises:
        WeightsSettingError: If the variable holds anything but a positive,
            finite number.
    """
    text = os.environ.get(TIMEOUT_ENV, "")
    if not text.strip():
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:  # NaN fails both comparisons
        raise WeightsSettingError(
            f"{TIMEOUT_ENV} should be a positive number of seconds, the deadline of a "
            f"whole download (default {DEFAULT_TIMEOUT_S}). Received: {TIMEOUT_ENV}={text!r}"
        )
    return seconds


def fetch(record, *, verbose=True):
    """Returns the path of ``record``'s file in the cache, downloading it if needed.

    A cached file whose hash matches is returned without any network access
    (and without reading the download settings). A cached file that does not
    match is fetched again.

    Args:
        record: A ``WeightsRecord``.
        verbose: Print the URL and a progress bar while downloading.

    Returns:
        The path of the verified file.

    Raises:
        WeightsSettingError: ``KERAS_RESNET_WEIGHTS_URL`` or
            ``KERAS_RESNET_DOWNLOAD_TIMEOUT`` holds an unusable value.
        WeightsDownloadError: The server is unreachable, answered an error, or
            did not deliver the file before the deadline; the message names the
            URL and the ways around it.
        WeightsIntegrityError: The downloaded bytes are truncated, more than
            expected, or do not match the record's size or hash. Nothing is
            left in the cache.
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
    transfer = _Transfer(_url(record), record, path, download_timeout())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _remove_stale_parts(path)
    _warn_if_plain_http(transfer.url, record)
    with _open(transfer) as response:
        _say(verbose, f"Downloading data from {transfer.url}")
        _download(response, transfer, verbose)
    return path


def _download(response, transfer, verbose):
    """Streams the body into a ``.part`` file, checks it, moves it into place."""
    transfer.length = _content_length(response)
    folder, name = os.path.split(transfer.path)
    tmp = create_temporary(folder, _part_prefix(name), _PART_SUFFIX)
    try:
        with open(tmp, "wb") as out:
            received, actual = _stream(response, out, transfer, verbose)
        _check_complete(transfer, received, actual)
        os.replace(tmp, transfer.path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@dataclasses.dataclass
class _Transfer:
    """One download: what is fetched from where, and its limits."""

    url: str
    record: WeightsRecord
    path: str  # where the file goes in the cache
    timeout_s: float  # the deadline of the whole download
    length: int | None = None  # the server's Content-Length, once it answered
    ends_at: float = dataclasses.field(init=False)

    def __post_init__(self):
        self.ends_at = time.monotonic() + self.timeout_s

    def late(self):
        """Whether the deadline has passed."""
        return time.monotonic() >= self.ends_at

    def read_timeout(self):
        """How long one read may block: a minute, or less if the deadline is nearer."""
        return max(0.001, min(_READ_TIMEOUT_S, self.ends_at - time.monotonic()))

    @property
    def expected(self):
        """The file's size: the registered one, else the Content-Length, else None."""
        return self.record.size if self.record.size is not None else self.length

    @property
    def limit(self):
        """``(bytes, why)``: the most that may arrive, and where that number comes from."""
        if self.record.size is not None:
            return self.record.size, "the registered size"
        if self.length is not None:
            return self.length, "the server's Content-Length"
        return MAX_UNKNOWN_SIZE, "the limit for files of unknown size"


def _url(record):
    """Returns the URL to fetch, refusing a mirror variable that is not a URL."""
    mirror = os.environ.get(URL_ENV)
    if mirror and not _fetchable(mirror):
        raise WeightsSettingError(
            f"{URL_ENV} should be the https://, http:// or file:// URL of a folder "
            "holding the weight files (a local folder is file:///path/to/folder). "
            f"Received: {URL_ENV}={mirror!r}"
        )
    return record.download_url


def _fetchable(url):
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("http", "https"):
        return bool(parsed.netloc)
    return parsed.scheme == "file" and bool(parsed.path)


def _warn_if_plain_http(url, record):
    """Warns, once per process, that a file travels over plain ``http://``."""
    global _warned_plain_http
    if _warned_plain_http or urllib.parse.urlparse(url).scheme != "http":
        return
    _warned_plain_http = True
    # Anything on the path can swap the file; the hash is then the only
    # guard, and for Keras's own files that hash is an md5, which a forged
    # file can be made to match.
    weak = ""
    if record.hash_algorithm == "md5":
        weak = ", and a forged file can be made to match an md5"
    warnings.warn(
        f"Downloading {record.file_name} over plain http:// ({url}): only its registered "
        f"{record.hash_algorithm} checks that it was not swapped on the way{weak}. "
        "Prefer an https:// mirror. (Said once per process.)",
        UserWarning,
        stacklevel=3,
    )


def _part_prefix(file_name):
    return f".{file_name}."


def _remove_stale_parts(path):
    """Removes the ``.part`` files that killed downloads of ``path`` left behind.

    Only files nobody has written to for ``_STALE_AFTER_S``: a live download
    (another process fetching the same file) writes at least once a read
    timeout, and its file must stay.
    """
    folder, name = os.path.split(path)
    prefix, now = _part_prefix(name), time.time()
    with os.scandir(folder) as entries:
        for entry in entries:
            if not (entry.name.startswith(prefix) and entry.name.endswith(_PART_SUFFIX)):
                continue
            try:
                if now - entry.stat().st_mtime > _STALE_AFTER_S:
                    os.remove(entry.path)
            except OSError:
                pass  # cleaned up by another process first, or not ours to remove


def _open(transfer):
    """Opens the URL, turning every way of failing into a ``WeightsDownloadError``."""
    try:
        # The timeout bounds connecting and each read, not the whole body:
        # _stream checks the deadline between reads.
        return urllib.request.urlopen(transfer.url, timeout=transfer.read_timeout())
    except urllib.error.HTTPError as e:
        reason = f"HTTP {e.code} {e.reason}"
        raise WeightsDownloadError(_cannot_fetch(transfer, reason)) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise WeightsDownloadError(_cannot_fetch(transfer, str(reason))) from None


def _content_length(response):
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _stream(response, out, transfer, verbose):
    """Copies the body into ``out`` within the limits; returns (bytes, digest)."""
    hasher = hashlib.new(transfer.record.hash_algorithm)
    limit, _ = transfer.limit
    progbar = _progbar(transfer.expected) if verbose else None
    received = 0
    while True:
        try:
            # read1: at most one network read, so the deadline is checked
            # however slowly bytes trickle in (read(n) waits for all n). One
            # byte past the limit is asked for, to tell "exactly" from "more".
            chunk = response.read1(min(_CHUNK, limit + 1 - received))
        except (OSError, ValueError) as e:
            # http.client raises IncompleteRead (a ValueError) or a socket
            # error when the connection drops mid-body.
            if transfer.late():
                raise WeightsDownloadError(_too_slow(transfer, received)) from None
            if transfer.length is None:
                raise WeightsIntegrityError(
                    f"Download of {transfer.record.file_name} from {transfer.url} broke off "
                    f"after {received} bytes ({type(e).__name__}). Nothing was kept; try again."
                ) from None
            break  # a short body: _check_complete reports the truncation
        if not chunk:
            break
        received += len(chunk)
        if received > limit:
            raise WeightsIntegrityError(_too_large(transfer, received))
        out.write(chunk)
        hasher.update(chunk)
        if progbar is not None:
            progbar.update(received)
        if transfer.late():
            raise WeightsDownloadError(_too_slow(transfer, received))
    return received, hasher.hexdigest()


def _check_complete(transfer, received, actual):
    """Raises ``WeightsIntegrityError`` unless the bytes are the record's file."""
    url, record, length = transfer.url, transfer.record, transfer.length
    if length is not None and received != length:
        raise WeightsIntegrityError(
            f"Download of {record.file_name} from {url} was truncated: "
            f"received {received} of {length} bytes "
            f"({record.hash_algorithm} of what arrived: {actual}, expected "
            f"{record.file_hash}). Nothing was kept; try again."
        )
    if record.size is not None and received != record.size:
        raise WeightsIntegrityError(
            f"{record.file_name} from {url} has {received} bytes, the registry "
            f"says {record.size} ({record.hash_algorithm} {actual}, expected "
            f"{record.file_hash}). Nothing was kept."
        )
    if not record.matches(actual):
        expected = record.file_hash + ("..." if record.hash_kind == "prefix" else "")
        raise WeightsIntegrityError(
            f"{record.file_name} from {url} does not match its registered "
            f"{record.hash_algorithm}: expected {expected}, got "
            f"{actual}. The transfer was corrupted or the mirror holds "
            "another file; nothing was kept."
        )


def _too_slow(transfer, received):
    of = f" of {transfer.expected}" if transfer.expected is not None else ""
    reason = (
        f"no complete file within the {transfer.timeout_s:g} s deadline: {received}{of} "
        f"bytes arrived; on a slow link, raise {TIMEOUT_ENV}"
    )
    return _cannot_fetch(transfer, reason)


def _too_large(transfer, received):
    limit, why = transfer.limit
    return (
        f"{transfer.url} sent more than the {limit} bytes expected for "
        f"{transfer.record.file_name} ({why}): stopped at {received} bytes. The server "
        "sends another file or garbage; nothing was kept."
    )


def _cannot_fetch(transfer, reason):
    url, record, path = transfer.url, transfer.record, transfer.path
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
        f"{record.hash_algorithm} must be {record.file_hash}"
        f"{' at its start' if record.hash_kind == 'prefix' else ''})."
    )


def _progbar(total):
    if total is None or not sys.stderr.isatty():
        return None
    import keras

    return keras.utils.Progbar(total, unit_name="B")


def _say(verbose, message):
    if verbose:
        print(message, file=sys.stderr)
