"""Hash, size and check a weight file; print (or add) its registry record.

Usage (from the repository root):

    python weights/record.py FILE --model resnet50 --tag mycorp \\
        --url https://mirror.local/r50_notop.weights.h5 --no-top
    python weights/record.py FILE ... --write        # add it to registry.json
    python weights/record.py --verify FILE [FILE...] # check files against the registry

The record's ``num_params`` comes from building the model and loading the file
into it, so a file that does not fit the architecture is refused here, not by
a user later.
"""

import argparse
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
REGISTRY = os.path.join(ROOT, "keras_resnet", "weights", "registry.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--verify", action="store_true", help="check files against their records")
    parser.add_argument("--model", help="architecture, e.g. resnet50")
    parser.add_argument("--tag", help="the weights= name, e.g. imagenet")
    parser.add_argument("--url", help="where the file is published")
    parser.add_argument("--no-top", action="store_true", help="the file has no classifier")
    parser.add_argument("--classes", type=int, default=1000, help="classifier width (default 1000)")
    parser.add_argument(
        "--preprocessing",
        help="caffe, tf or torch, only if the file differs from the model's own convention",
    )
    parser.add_argument("--top1", type=float)
    parser.add_argument("--top5", type=float)
    parser.add_argument("--accuracy-source")
    parser.add_argument("--license")
    parser.add_argument("--write", action="store_true", help="add the record to registry.json")
    args = parser.parse_args(argv)

    sys.path.insert(0, ROOT)
    if args.verify:
        return verify(args.files)
    missing = [f"--{name}" for name in ("model", "tag", "url") if not getattr(args, name)]
    if missing or len(args.files) != 1:
        parser.error(f"a record needs one FILE and {', '.join(missing) or 'nothing else'}")
    record = make_record(args)
    print(json.dumps(record, indent=1))
    if args.write:
        add_to_registry(record)
        print(f"added to {os.path.normpath(REGISTRY)}", file=sys.stderr)
    return 0


def make_record(args):
    from keras_resnet import catalog
    from keras_resnet.weights import download, loading

    path = args.files[0]
    if args.model not in catalog.list_models():
        raise SystemExit(f"unknown model {args.model!r}; known: {', '.join(catalog.list_models())}")
    include_top = not args.no_top
    model = catalog.build(args.model, weights=None, include_top=include_top, classes=args.classes)
    loading.load_file(model, path)  # raises if the file does not fit
    record = {
        "model": args.model,
        "tag": args.tag,
        "include_top": include_top,
        "file_name": os.path.basename(args.url.rstrip("/")),
        "url": args.url,
        "file_hash": download.hash_file(path, "sha256"),
        "hash_algorithm": "sha256",
        "size": os.path.getsize(path),
        "num_params": model.count_params(),
        "classes": args.classes if include_top else None,
        "top1": args.top1,
        "top5": args.top5,
        "accuracy_source": args.accuracy_source,
        "license": args.license,
    }
    if args.preprocessing:  # Only where it differs from the architecture's own.
        record["preprocessing"] = args.preprocessing
    return record


def add_to_registry(record):
    with open(REGISTRY, encoding="utf-8") as f:
        data = json.load(f)
    key = (record["model"], record["tag"], record["include_top"])
    data["records"] = [
        r for r in data["records"] if (r["model"], r["tag"], r["include_top"]) != key
    ] + [record]
    tmp = REGISTRY + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, REGISTRY)


def verify(files):
    from keras_resnet.weights import download, registry

    by_name = {r.file_name: r for r in registry.records()}
    bad = 0
    for path in files:
        record = by_name.get(os.path.basename(path))
        if record is None:
            digest, size = download.hash_file(path), os.path.getsize(path)
            print(f"UNKNOWN {path}: sha256 {digest}, {size} bytes")
            bad += 1
            continue
        ok, actual = download.verify(path, record)
        size = os.path.getsize(path)
        if ok and record.size in (None, size):
            print(f"ok      {path} ({record.hash_algorithm} {actual}, {size} bytes)")
        else:
            bad += 1
            print(
                f"BAD     {path}: {record.hash_algorithm} {actual} ({size} bytes), registry "
                f"{record.file_hash} ({record.size or '?'} bytes)"
            )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
