"""Downloads through a loopback HTTP server: cache hits, corruption, outages, mirrors.

The server runs in a thread on 127.0.0.1, serves bytes from a dict and counts
every request, so "served from the cache" means zero requests, not a guess.
Nothing here depends on the Keras backend, so these run on TensorFlow only.
"""

import hashlib
import http.server
import os
import shutil
import socket
import threading
import time
import warnings

import numpy as np
import pytest

import keras_resnet
from keras_resnet import cli
from keras_resnet.weights import download, registry


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; ``server.modes[path]`` makes a path misbehave.

    Modes: "truncate" announces the whole body, sends half and hangs up;
    "drip" announces the body and sends it ``DRIP_BYTES`` at a time, one
    piece every ``DRIP_PERIOD_S``; "unsized" sends no Content-Length and ends
    the body by closing the connection. ``server.sent[path]`` counts the
    bytes the socket accepted.
    """

    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        mode = server.modes.get(self.path)
        self.send_response(200)
        if mode != "unsized":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncate":
            body = body[: len(body) // 2]
        piece, pause = (DRIP_BYTES, DRIP_PERIOD_S) if mode == "drip" else (1 << 16, 0)
        try:
            for start in range(0, len(body), piece):
                chunk = body[start : start + piece]
                self.wfile.write(chunk)
                self.wfile.flush()
                server.sent[self.path] = server.sent.get(self.path, 0) + len(chunk)
                time.sleep(pause)
        except OSError:
            pass  # the client gave up, as it should have
        self.close_connection = True

    def log_message(self, *args):
        pass


DRIP_BYTES, DRIP_PERIOD_S = 20, 0.05
TIMEOUT_ENV = "KERAS_RESNET_DOWNLOAD_TIMEOUT"


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.modes, httpd.sent = {}, [], {}, {}
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Cache under tmp_path, no proxy for loopback, no mirror or deadline unless a test sets one."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv(registry.URL_ENV, raising=False)
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    for proxy in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
        monkeypatch.delenv(proxy.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    # The loopback server is plain http: its warning is the subject of two
    # tests (which reset this), noise in the others.
    monkeypatch.setattr(download, "_warned_plain_http", True)
    saved = dict(registry._RECORDS)
    yield
    registry._RECORDS.clear()
    registry._RECORDS.update(saved)


def _record(url, body, *, algorithm="sha256", size=None, file_name="blob.h5"):
    return registry.WeightsRecord(
        model="resnet18",
        tag="test",
        include_top=False,
        file_name=file_name,
        url=url,
        file_hash=hashlib.new(algorithm, body).hexdigest(),
        hash_algorithm=algorithm,
        size=size,
    )


def _cache_listing():
    folder = download.cache_dir()
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BODY = np.random.default_rng(0).bytes(300_000)


def test_cache_follows_keras_home(tmp_path):
    assert download.cache_dir() == str(tmp_path / "keras_home" / "models")


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_download_then_cache_hit_without_network(server, algorithm):
    server.files["/w/blob.h5"] = BODY
    record = _record(server.base + "/w/blob.h5", BODY, algorithm=algorithm, size=len(BODY))

    path = download.fetch(record, verbose=False)
    assert path == os.path.join(download.cache_dir(), "blob.h5")
    with open(path, "rb") as f:
        assert f.read() == BODY
    assert server.requests == ["/w/blob.h5"]

    assert download.fetch(record, verbose=False) == path
    assert server.requests == ["/w/blob.h5"], "a verified cached file must not touch the network"
    assert _cache_listing() == ["blob.h5"]


def test_downloaded_file_has_the_mode_the_umask_gives(server):
    # A KERAS_HOME shared by a group: mkstemp's 0600 would lock the others out.
    server.files["/blob.h5"] = BODY
    record = _record(server.base + "/blob.h5", BODY)
    old = os.umask(0o022)
    try:
        path = download.fetch(record, verbose=False)
    finally:
        os.umask(old)
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)


def test_hash_mismatch_leaves_nothing(server):
    server.files["/blob.h5"] = BODY
    record = _record(server.base + "/blob.h5", b"another file")
    with pytest.raises(download.WeightsIntegrityError) as info:
        download.fetch(record, verbose=False)
    message = str(info.value)
    assert "blob.h5" in message
    assert record.file_hash in message
    assert hashlib.sha256(BODY).hexdigest() in message
    assert _cache_listing() == []


def test_truncated_body_leaves_nothing(server):
    server.files["/blob.h5"] = BODY
    server.modes["/blob.h5"] = "truncate"
    record = _record(server.base + "/blob.h5", BODY)
    with pytest.raises(download.WeightsIntegrityError) as info:
        download.fetch(record, verbose=False)
    message = str(info.value)
    assert "truncated" in message
    assert f"{len(BODY) // 2} of {len(BODY)} bytes" in message
    assert record.file_hash in message
    assert hashlib.sha256(BODY[: len(BODY) // 2]).hexdigest() in message
    assert _cache_listing() == []


def test_wrong_size_leaves_nothing(server):
    server.files["/blob.h5"] = BODY
    record = _record(server.base + "/blob.h5", BODY, size=len(BODY) + 1)
    with pytest.raises(download.WeightsIntegrityError, match="registry says"):
        download.fetch(record, verbose=False)
    assert _cache_listing() == []


def test_404_names_url_and_remedies(server):
    record = _record(server.base + "/missing.h5", BODY, file_name="missing.h5")
    with pytest.raises(download.WeightsDownloadError) as info:
        download.fetch(record, verbose=False)
    message = str(info.value)
    assert server.base + "/missing.h5" in message
    assert "404" in message
    assert registry.URL_ENV in message
    assert os.path.join(download.cache_dir(), "missing.h5") in message
    assert _cache_listing() == []


def test_server_down_names_url_and_remedies():
    url = f"http://127.0.0.1:{_closed_port()}/blob.h5"
    record = _record(url, BODY)
    with pytest.raises(download.WeightsDownloadError) as info:
        download.fetch(record, verbose=False)
    message = str(info.value)
    assert url in message
    assert registry.URL_ENV in message
    assert os.path.join(download.cache_dir(), "blob.h5") in message
    assert _cache_listing() == []


def test_corrupt_cached_file_is_replaced(server):
    server.files["/blob.h5"] = BODY
    record = _record(server.base + "/blob.h5", BODY)
    os.makedirs(download.cache_dir())
    with open(os.path.join(download.cache_dir(), "blob.h5"), "wb") as f:
        f.write(BODY[:1000])
    path = download.fetch(record, verbose=False)
    with open(path, "rb") as f:
        assert f.read() == BODY
    assert server.requests == ["/blob.h5"]
    assert _cache_listing() == ["blob.h5"]


def test_mirror_variable_redirects_published_files(server, monkeypatch):
    monkeypatch.setenv(registry.URL_ENV, server.base + "/mirror/")
    record = registry.find("resnet50", "imagenet", include_top=False)
    assert record.download_url == server.base + "/mirror/" + record.file_name
    # The mirror lacks the file: the request went to it, under Keras's file name.
    with pytest.raises(download.WeightsDownloadError, match="mirror"):
        download.fetch(record, verbose=False)
    assert server.requests == ["/mirror/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"]


# Limits: an overall deadline, a size cap, partial files of killed downloads.


def test_a_dripping_server_meets_the_deadline(server, monkeypatch):
    # 20 bytes every 50 ms: each read succeeds long before the per-read
    # timeout, so only an overall deadline ends it (the whole body would take
    # 20 s; a 1 KB-per-20 s server would take days).
    body = BODY[:8000]
    server.files["/slow.h5"] = body
    server.modes["/slow.h5"] = "drip"
    monkeypatch.setenv(TIMEOUT_ENV, "1")
    record = _record(server.base + "/slow.h5", body, size=len(body))
    start = time.monotonic()
    with pytest.raises(download.WeightsDownloadError) as info:
        download.fetch(record, verbose=False)
    assert time.monotonic() - start < 3
    message = str(info.value)
    assert server.base + "/slow.h5" in message
    assert "1 s" in message and TIMEOUT_ENV in message
    assert f"of {len(body)} bytes" in message
    assert len(message.splitlines()) == 1
    assert _cache_listing() == []


@pytest.mark.parametrize("case", ["registered size", "unknown size"])
def test_an_over_sending_server_is_cut_off(server, monkeypatch, case):
    # 40 MB of noise for a 300 KB file, without a Content-Length to go by.
    flood = BODY * 134
    server.files["/blob.h5"] = flood
    server.modes["/blob.h5"] = "unsized"
    if case == "registered size":
        record, expected = _record(server.base + "/blob.h5", BODY, size=len(BODY)), len(BODY)
    else:
        record, expected = _record(server.base + "/blob.h5", BODY), 500_000
        monkeypatch.setattr(download, "MAX_UNKNOWN_SIZE", expected)
    with pytest.raises(download.WeightsIntegrityError) as info:
        download.fetch(record, verbose=False)
    message = str(info.value)
    assert server.base + "/blob.h5" in message
    assert f"{expected} bytes" in message and f"{expected + 1} bytes" in message
    assert len(message.splitlines()) == 1
    # Reading stopped: the server got rid of little more than the socket
    # buffers hold, not the 40 MB (nor did the cache ever hold them).
    assert server.sent["/blob.h5"] < 16 << 20
    assert _cache_listing() == []


def _part(name, *, age_s):
    folder = download.cache_dir()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(b"x" * 1000)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return name


def test_stale_partial_files_of_the_entry_are_removed(server):
    server.files["/blob.h5"] = BODY
    record = _record(server.base + "/blob.h5", BODY)
    _part(".blob.h5.k1ll3d00.part", age_s=2 * 3600)  # a download killed an hour ago
    live = _part(".blob.h5.l1ve0000.part", age_s=5)  # another process, writing now
    other = _part(".other.h5.k1ll3d00.part", age_s=2 * 3600)  # another entry's
    download.fetch(record, verbose=False)
    assert _cache_listing() == sorted([live, other, "blob.h5"])


def test_the_defaults_fit_a_big_file_on_a_slow_link(monkeypatch):
    # 500 MB in an hour is 1.1 Mbit/s; 2 GiB is eight times ResNet152's file.
    assert download.TIMEOUT_ENV == TIMEOUT_ENV
    assert download.download_timeout() == 3600
    assert download.MAX_UNKNOWN_SIZE == 2 << 30
    monkeypatch.setenv(TIMEOUT_ENV, "7200.5")
    assert download.download_timeout() == 7200.5


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan", "inf", "1e999"])
def test_a_bad_deadline_is_one_clear_error(server, monkeypatch, value):
    server.files["/blob.h5"] = BODY
    monkeypatch.setenv(TIMEOUT_ENV, value)
    record = _record(server.base + "/blob.h5", BODY)
    with pytest.raises(download.WeightsSettingError) as info:
        download.fetch(record, verbose=False)
    message = str(info.value)
    assert f"Received: {TIMEOUT_ENV}={value!r}" in message
    assert len(message.splitlines()) == 1
    assert server.requests == []


# Mirrors: plain http works with a warning; anything else is refused clearly.


def test_plain_http_warns_once_per_process(server, monkeypatch):
    monkeypatch.setattr(download, "_warned_plain_http", False)
    server.files["/mirror/a.h5"] = BODY[:1000]
    server.files["/mirror/b.h5"] = BODY[:2000]
    monkeypatch.setenv(registry.URL_ENV, server.base + "/mirror")
    a = _record("https://example.invalid/a.h5", BODY[:1000], algorithm="md5", file_name="a.h5")
    b = _record("https://example.invalid/b.h5", BODY[:2000], file_name="b.h5")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        download.fetch(a, verbose=False)
        download.fetch(b, verbose=False)
    assert server.requests == ["/mirror/a.h5", "/mirror/b.h5"]
    texts = [str(w.message) for w in caught]
    assert len(texts) == 1, texts
    assert "http://" in texts[0] and server.base + "/mirror/a.h5" in texts[0]
    assert "md5" in texts[0]


def test_file_mirror_works_without_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_warned_plain_http", False)
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "blob.h5").write_bytes(BODY)
    monkeypatch.setenv(registry.URL_ENV, (tmp_path / "mirror").as_uri())
    record = _record("https://example.invalid/blob.h5", BODY, size=len(BODY))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = download.fetch(record, verbose=False)
    with open(path, "rb") as f:
        assert f.read() == BODY


@pytest.mark.parametrize(
    "value", ["mirror.local/keras", "/srv/weights", "ftp://mirror.local/keras", "https:///keras"]
)
def test_a_mirror_that_is_not_a_url_is_one_clear_error(monkeypatch, value):
    monkeypatch.setenv(registry.URL_ENV, value)
    record = registry.find("resnet50", "imagenet", include_top=False)
    with pytest.raises(download.WeightsSettingError) as info:
        download.fetch(record, verbose=False)
    message = str(info.value)
    assert f"Received: {registry.URL_ENV}={value!r}" in message
    assert "file://" in message and "https://" in message
    assert len(message.splitlines()) == 1


def test_a_builder_reports_a_bad_mirror_as_a_value_error(monkeypatch):
    # The weights argument was fine, the setting was not: ValueError names the variable.
    monkeypatch.setenv(registry.URL_ENV, "mirror.local/keras")
    with pytest.raises(ValueError, match=f"Received: {registry.URL_ENV}='mirror.local/keras'"):
        keras_resnet.ResNet50(weights="imagenet", include_top=False, input_shape=(32, 32, 3))


# The command line: each failure is one line on stderr, never a traceback.


def _cli(capsys, argv):
    capsys.readouterr()
    status = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err.splitlines()


def _register_blob(url, body, **kwargs):
    keras_resnet.register_weights(
        "resnet18", "mycorp", url=url, file_hash=hashlib.sha256(body).hexdigest(),
        include_top=False, **kwargs,
    )


@pytest.mark.parametrize("failure", ["deadline", "over-size", "404"])
def test_cli_fetch_reports_a_failed_download_in_one_line(server, monkeypatch, capsys, failure):
    body = BODY[:8000]
    server.files["/r18.weights.h5"] = body * 10 if failure == "over-size" else body
    if failure == "deadline":
        server.modes["/r18.weights.h5"] = "drip"
        monkeypatch.setenv(TIMEOUT_ENV, "0.5")
    name = "gone.weights.h5" if failure == "404" else "r18.weights.h5"
    _register_blob(server.base + "/" + name, body, size=len(body))
    status, out, err = _cli(capsys, ["weights", "fetch", "resnet18", "--tag", "mycorp"])
    assert status == 1
    assert out == ""
    failed = [line for line in err if line.startswith("FAILED")]
    assert len(failed) == 1 and name in failed[0] and server.base in failed[0], err
    assert _cache_listing() == []


@pytest.mark.parametrize(
    "variable, value", [(registry.URL_ENV, "mirror.local/keras"), (TIMEOUT_ENV, "an hour")]
)
def test_cli_fetch_bad_setting_is_a_usage_error(server, monkeypatch, capsys, variable, value):
    _register_blob(server.base + "/r18.weights.h5", BODY)
    monkeypatch.setenv(variable, value)
    status, _, err = _cli(capsys, ["weights", "fetch", "resnet18", "--tag", "mycorp"])
    assert status == 2
    assert len(err) == 1, err
    assert err[0].startswith("keras-resnet weights: error: ")
    assert f"Received: {variable}={value!r}" in err[0]
    assert server.requests == []


def test_cli_verify_reports_bad_and_missing_files_on_stderr(tmp_path, capsys):
    body = BODY[:5000]
    _register_blob("https://example.invalid/r18.weights.h5", body, size=len(body))
    good, bad = tmp_path / "good" / "r18.weights.h5", tmp_path / "bad" / "r18.weights.h5"
    for path, content in ((good, body), (bad, body[:-1] + b"!")):
        path.parent.mkdir()
        path.write_bytes(content)
    missing = tmp_path / "missing.weights.h5"
    status, out, err = _cli(capsys, ["weights", "verify", str(good), str(bad), str(missing)])
    assert status == 1
    assert out.splitlines() == [f"ok      {good}"]
    assert len(err) == 2, err
    assert err[0].startswith(f"BAD     {bad}: sha256 ")
    assert err[1] == f"MISSING {missing}"


def test_cli_verify_reports_an_unreadable_file_in_one_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "r18.weights.h5"
    path.write_bytes(BODY[:100])
    _register_blob("https://example.invalid/r18.weights.h5", BODY[:100])

    def unreadable(path, record):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(download, "verify", unreadable)
    status, out, err = _cli(capsys, ["weights", "verify", str(path)])
    assert status == 1 and out == ""
    assert err == [f"UNREADABLE {path}: [Errno 13] Permission denied: '{path}'"]


def test_cli_list_unknown_model_is_one_line(capsys):
    status, out, err = _cli(capsys, ["weights", "list", "resnet999"])
    assert status == 2 and out == ""
    assert err == ["keras-resnet weights: error: no weights registered for 'resnet999'"]


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """A ResNet18 backbone with weights drawn from U(0.5, 1.5), saved by Keras.

    Returns the file's bytes and ``{layer name: arrays}``.
    """
    model = keras_resnet.ResNet18(weights=None, include_top=False, input_shape=(32, 32, 3))
    rng = np.random.default_rng(1)
    model.set_weights(
        [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.get_weights()]
    )
    path = tmp_path_factory.mktemp("r18") / "r18_notop.weights.h5"
    model.save_weights(path)
    with open(path, "rb") as f:
        body = f.read()
    return body, {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def _assert_weights(model, expected):
    for name, arrays in expected.items():
        for got, want in zip(model.get_layer(name).get_weights(), arrays, strict=True):
            np.testing.assert_array_equal(got, want)


def test_register_weights_and_mirror_end_to_end(server, monkeypatch, resnet18_file):
    body, expected = resnet18_file
    server.files["/mirror/r18_notop.weights.h5"] = body
    keras_resnet.register_weights(
        "resnet18",
        "mycorp",
        url="https://unreachable.invalid/models/r18_notop.weights.h5",
        file_hash=hashlib.sha256(body).hexdigest(),
        include_top=False,
        size=len(body),
    )
    monkeypatch.setenv(registry.URL_ENV, server.base + "/mirror")

    model = keras_resnet.ResNet18(weights="mycorp", include_top=False, input_shape=(32, 32, 3))
    _assert_weights(model, expected)
    assert server.requests == ["/mirror/r18_notop.weights.h5"]

    keras_resnet.ResNet18(weights="mycorp", include_top=False, input_shape=(32, 32, 3))
    assert len(server.requests) == 1, "the second build must come from the cache"


def test_fine_tuning_loads_backbone_and_leaves_a_fresh_head(server, resnet18_file):
    body, expected = resnet18_file
    server.files["/r18_notop.weights.h5"] = body
    keras_resnet.register_weights(
        "resnet18",
        "mycorp",
        url=server.base + "/r18_notop.weights.h5",
        file_hash=hashlib.sha256(body).hexdigest(),
        include_top=False,
    )
    # keras.applications refuses weights + include_top + classes != 1000.
    model = keras_resnet.ResNet18(weights="mycorp", include_top=True, classes=10)

    _assert_weights(model, expected)
    weighted = [layer.name for layer in model.layers if layer.weights]
    assert sorted(weighted) == sorted([*expected, "predictions"])
    kernel, bias = model.get_layer("predictions").get_weights()
    assert kernel.shape == (512, 10)
    # Fresh Glorot-uniform kernel: |w| <= sqrt(6 / (512 + 10)) ~ 0.107, far
    # from the file's U(0.5, 1.5); zero bias.
    assert np.abs(kernel).max() <= np.sqrt(6 / (512 + 10))
    np.testing.assert_array_equal(bias, np.zeros(10))

    # A fresh head frees what a pretrained one pins: the resolution, the
    # activation, and the model's name (the registry key stays resnet18).
    renamed = keras_resnet.ResNet18(
        weights="mycorp", classes=10, input_shape=(64, 64, 3),
        classifier_activation="sigmoid", name="backbone",
    )
    assert renamed.name == "backbone"
    _assert_weights(renamed, expected)


def test_cli_fetch_list_and_verify(server, resnet18_file, capsys):
    body, _ = resnet18_file
    server.files["/r18.weights.h5"] = body
    keras_resnet.register_weights(
        "resnet18",
        "mycorp",
        url=server.base + "/r18.weights.h5",
        file_hash=hashlib.sha256(body).hexdigest(),
        include_top=False,
        size=len(body),
    )
    assert cli.main(["weights", "fetch", "resnet18", "--tag", "mycorp"]) == 0
    assert server.requests == ["/r18.weights.h5"]

    capsys.readouterr()
    assert cli.main(["weights", "list", "resnet18"]) == 0
    listed = capsys.readouterr().out.splitlines()
    # The header, torchvision's file, and the one registered here.
    assert len(listed) == 3 and "imagenet1k_v1" in listed[1]
    assert listed[2].split()[:3] == ["resnet18", "mycorp", "notop"]
    assert "yes" in listed[2].split()

    assert cli.main(["weights", "verify"]) == 0
    assert capsys.readouterr().out.startswith("ok ")

    cached = os.path.join(download.cache_dir(), "r18.weights.h5")
    with open(cached, "r+b") as f:
        f.seek(len(body) // 2)
        byte = f.read(1)
        f.seek(len(body) // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert cli.main(["weights", "verify", "--delete"]) == 1
    err = capsys.readouterr().err
    assert "BAD" in err and hashlib.sha256(body).hexdigest() in err
    assert not os.path.exists(cached)


def test_cli_fetch_unknown_model_is_a_usage_error(capsys):
    assert cli.main(["weights", "fetch", "resnet999"]) == 2
    assert "resnet999" in capsys.readouterr().err


def _record_tool():
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), os.pardir, "weights", "record.py")
    spec = importlib.util.spec_from_file_location("weights_record_tool", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_record_tool_prints_a_record_that_loads(tmp_path, resnet18_file, capsys):
    import json

    body, _ = resnet18_file
    path = tmp_path / "r18_notop.weights.h5"
    path.write_bytes(body)
    tool = _record_tool()
    url = "https://mirror.local/r18_notop.weights.h5"
    argv = [str(path), "--model", "resnet18", "--tag", "t", "--url", url, "--no-top"]
    assert tool.main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["file_hash"] == hashlib.sha256(body).hexdigest()
    assert record["size"] == len(body)
    assert record["file_name"] == "r18_notop.weights.h5"
    # ResNet18 without the top, counted by hand: the stem conv 7*7*3*64 and its
    # BN (4*64), then per 3x3 conv k*k*cin*cout + 4*cout, per projection
    # cin*cout + 4*cout.
    bn = lambda c: 4 * c  # noqa: E731
    conv = lambda k, cin, cout: k * k * cin * cout + bn(cout)  # noqa: E731
    stem = 7 * 7 * 3 * 64 + bn(64)
    stage2 = 4 * conv(3, 64, 64)
    later = sum(
        conv(3, cin, cout) + 3 * conv(3, cout, cout) + conv(1, cin, cout)
        for cin, cout in ((64, 128), (128, 256), (256, 512))
    )
    assert record["num_params"] == stem + stage2 + later

    # --write adds it to (a copy of) registry.json, in a form the registry reads.
    tool.REGISTRY = str(tmp_path / "registry.json")
    shutil.copy(registry._REGISTRY_FILE, tool.REGISTRY)
    assert tool.main([*argv, "--write"]) == 0
    with open(tool.REGISTRY, encoding="utf-8") as f:
        written = json.load(f)["records"]
    with open(registry._REGISTRY_FILE, encoding="utf-8") as f:
        assert len(written) == len(json.load(f)["records"]) + 1
    assert written[-1] == record
    assert registry.WeightsRecord(**written[-1]).file_hash == record["file_hash"]

    keras_resnet.register_weights(**_as_register_arguments(record))
    assert tool.verify([str(path)]) == 0
    path.write_bytes(body[:-1])
    assert tool.verify([str(path)]) == 1


def _as_register_arguments(record):
    arguments = {k: v for k, v in record.items() if k not in ("model", "file_name")}
    arguments["model_name"] = record["model"]
    return arguments
