"""``keras-resnet weights list|fetch|verify|convert``: the registry, the cache, PyTorch files.

What succeeded goes to stdout (the paths fetched, the files verified), what
failed to stderr, one line per file; the exit status is non-zero if anything
failed, and a bad setting (a mirror variable that is not a URL, an unusable
deadline) stops the command with one line and status 2. ``convert`` writes
a PyTorch checkpoint once as a Keras ``.weights.h5`` file; a checkpoint that
cannot be read or does not fit the model is one line and status 2.
"""

import os
import sys

from keras_resnet.cli import errors


def register(subparsers):
    parser = subparsers.add_parser(
        "weights",
        help="list, fetch and verify pretrained weight files",
        description="The registered weight files: list them, download them into "
        "the Keras cache (verified), or re-hash what the cache holds. "
        "KERAS_RESNET_WEIGHTS_URL replaces the base URL (mirrors); "
        "KERAS_RESNET_DOWNLOAD_TIMEOUT bounds each download in seconds (default "
        "3600); KERAS_HOME moves the cache.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="every registered file")
    listing.add_argument("model", nargs="?", help="only this model")
    listing.set_defaults(func=run_list)

    fetching = actions.add_parser("fetch", help="download files into the cache, verified")
    fetching.add_argument("models", nargs="+", metavar="MODEL", help="model names, or 'all'")
    fetching.add_argument("--tag", default="imagenet", help="weights tag (default imagenet)")
    which = fetching.add_mutually_exclusive_group()
    which.add_argument("--top", action="store_true", help="only the files with the classifier")
    which.add_argument("--no-top", action="store_true", help="only the files without it")
    fetching.set_defaults(func=run_fetch)

    verifying = actions.add_parser(
        "verify", help="re-hash cached files (or given files) against the registry"
    )
    verifying.add_argument(
        "files", nargs="*", metavar="FILE", help="files to check (default: the cache)"
    )
    verifying.add_argument(
        "--delete", action="store_true", help="delete cached files that fail the check"
    )
    verifying.set_defaults(func=run_verify)

    converting = actions.add_parser(
        "convert",
        help="write a PyTorch checkpoint (.pth, .safetensors) as a Keras .weights.h5 file",
        description="Reads a torchvision or timm checkpoint without running it, "
        "loads it into the named model (every shape checked) and saves the "
        "model's weights. The classifier's width is the checkpoint's; a "
        "checkpoint without 'fc' gives a model without its top.",
    )
    converting.add_argument("source", metavar="SRC", help="a .pth, .pt, .bin or .safetensors file")
    converting.add_argument("--model", required=True, help="the architecture, see `keras-resnet models`")
    converting.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="where to write (a .weights.h5 file)"
    )
    converting.set_defaults(func=run_convert)


def run_list(args):
    from keras_resnet.weights import download, registry

    if args.model and not registry.records(args.model):
        raise errors.UsageError(f"no weights registered for {args.model!r}")
    print(
        f"{'model':<17} {'tag':<14} {'top':<5} {'params':>11} {'px':>3} {'top-1':>6} "
        f"{'top-5':>6} {'source':<11} {'hash (publisher states)':<31} {'cached':<6} file"
    )
    for r in registry.records(args.model):
        params = f"{r.num_params:,}" if r.num_params else "?"
        cached = "yes" if _exists(download.cached_path(r)) else "no"
        # A prefix is all torchvision and timm publish (torch hub checks it).
        digest = f"{r.hash_algorithm}:{r.file_hash[:12]} {r.hash_kind}"
        print(
            f"{r.model:<17} {r.tag:<14} {'top' if r.include_top else 'notop':<5} "
            f"{params:>11} {r.resolution or 224:>3} {_pct(r.top1):>6} {_pct(r.top5):>6} "
            f"{r.source or 'user':<11} {digest:<31} {cached:<6} {r.file_name}"
        )
    return 0


def run_fetch(args):
    from keras_resnet.weights import download, registry

    names = sorted({r.model for r in registry.records()}) if args.models == ["all"] else args.models
    chosen = []
    for name in names:
        found = [
            r
            for r in registry.records(name)
            if r.tag == args.tag and not (args.top and not r.include_top)
            and not (args.no_top and r.include_top)
        ]
        if not found:
            raise errors.UsageError(
                f"no {args.tag!r} weights registered for {name!r}; see `keras-resnet weights list`"
            )
        chosen.extend(found)
    failed = 0
    for r in chosen:
        try:
            path = download.fetch(r)
        except download.WeightsSettingError as e:
            raise errors.UsageError(str(e)) from None
        except (OSError, download.WeightsIntegrityError) as e:
            # OSError: the server (WeightsDownloadError) or the disk (full,
            # read-only cache); either way this file failed, the next may not.
            _fail(f"FAILED {r.file_name}: {errors.one_line(e)}")
            failed += 1
            continue
        print(f"ok     {path}")
    return 1 if failed else 0


def run_verify(args):
    from keras_resnet.weights import download, registry

    by_file = {r.file_name: r for r in registry.records()}
    if args.files:
        targets = [(path, by_file.get(os.path.basename(path))) for path in args.files]
    else:
        targets = [
            (download.cached_path(r), r)
            for r in registry.records()
            if _exists(download.cached_path(r))
        ]
        if not targets:
            print(f"no registered file in {download.cache_dir()}")
    bad = 0
    for path, record in targets:
        try:
            bad += not _verify_one(path, record, delete=args.delete)
        except OSError as e:  # unreadable: permissions, a file vanishing mid-read
            _fail(f"UNREADABLE {path}: {errors.one_line(e)}")
            bad += 1
    return 1 if bad else 0


def run_convert(args):
    from keras_resnet.cli import quiet

    if not args.output.endswith(".weights.h5"):
        raise errors.UsageError(
            f"the output must be a .weights.h5 file. Received: -o {args.output}"
        )
    if not getattr(args, "debug", False):
        # Before the catalogue, which imports Keras: its backend's start-up log
        # is not about this command.
        quiet.import_backend_quietly()
    entry = errors.model_entry(args.model)
    from keras_resnet import catalog
    from keras_resnet.weights import torch_convert, torch_files
    from keras_resnet.weights.errors import WeightsFileError, WeightsMismatchError

    try:
        state_dict = torch_files.read_state_dict(args.source)
        classes = torch_convert.classes(state_dict)
        model = catalog.build(
            entry.name, weights=None, include_top=classes is not None, classes=classes or 1000
        )
        torch_convert.assign(torch_convert.torch_to_keras(state_dict, model, source=args.source))
    except (OSError, WeightsFileError, WeightsMismatchError) as e:
        raise errors.UsageError(errors.one_line(e)) from None
    folder = os.path.dirname(os.path.abspath(args.output))
    # Keras wants the suffix; the rename makes the file appear whole or not at all.
    temporary = os.path.join(folder, f".{os.path.basename(args.output)}.{os.getpid()}.weights.h5")
    try:
        model.save_weights(temporary)
        os.replace(temporary, args.output)
    except OSError as e:
        raise errors.UsageError(f"cannot write {args.output}: {errors.one_line(e)}") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    head = f"{classes} classes" if classes else "no top"
    print(f"ok     {args.output} ({entry.name}, {head}, {len(model.weights)} weights)")
    return 0


def _verify_one(path, record, *, delete):
    """Checks one file and reports it; returns whether it passed."""
    from keras_resnet.weights import download

    if not os.path.isfile(path):
        _fail(f"MISSING {path}")
        return False
    if record is None:
        size = os.path.getsize(path)
        print(
            f"UNKNOWN {path}: not in the registry; sha256 "
            f"{download.hash_file(path, 'sha256')}, {size} bytes"
        )
        return True
    ok, actual = download.verify(path, record)
    size_ok = record.size is None or os.path.getsize(path) == record.size
    if ok and size_ok:
        print(f"ok      {path}")
        return True
    _fail(f"BAD     {path}: {record.hash_algorithm} {actual}, expected {record.file_hash}")
    if delete:
        os.remove(path)
        print(f"deleted {path}")
    return False


def _fail(line):
    print(line, file=sys.stderr)


def _exists(path):
    return os.path.isfile(path)


def _pct(value):
    return f"{100 * value:.1f}" if value is not None else "?"
