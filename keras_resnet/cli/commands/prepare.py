"""``keras-resnet prepare``: an image folder written as sharded TFRecord files."""

import functools
import os
import shlex
import sys


def register(subparsers):
    parser = subparsers.add_parser(
        "prepare",
        help="write an image folder as sharded TFRecord files (ImageNet-sized data)",
        description="Writes SRC (one sub-folder of images per class, or train/ and optional "
        "val/ and test/ folders of them) into DST as TFRecord shards with an index.json: every "
        "image checked once, larger ones stored with the shorter side --shorter-side. "
        "Interrupted, it resumes where it stopped when run again.",
    )
    parser.add_argument("source", metavar="SRC", help="image folder, one sub-folder per class")
    parser.add_argument("destination", metavar="DST", help="folder to write the shards to")
    parser.add_argument(
        "--shorter-side", type=int, default=480,
        help="largest shorter side stored, in pixels (default 480, the largest the paper's "
        "scale augmentation uses at 224 px)",
    )
    parser.add_argument("--images-per-shard", type=int, default=1024,
                        help="images per shard file (default 1024)")
    parser.add_argument("--quality", type=int, default=90,
                        help="JPEG quality of re-encoded images, 1-100 (default 90)")
    parser.add_argument("--workers", type=int, default=None,
                        help="shards written in parallel (default: the number of CPUs)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a prepare with other settings or an older source in DST")
    parser.set_defaults(func=run)


def run(args):
    from keras_resnet.cli import quiet
    from keras_resnet.cli.errors import UsageError

    for flag, value in (
        ("--shorter-side", args.shorter_side),
        ("--images-per-shard", args.images_per_shard),
        ("--workers", args.workers),
    ):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be positive. Received: {value}")
    if not 1 <= args.quality <= 100:
        raise UsageError(f"--quality must be in 1..100. Received: {args.quality}")
    if not os.path.isdir(args.source):
        raise UsageError(f"source folder not found: {args.source}")
    if not args.debug:
        quiet.import_backend_quietly()

    from keras_resnet import data
    from keras_resnet.data.prepare import DiskFull

    try:
        index = data.prepare_shards(
            args.source, args.destination, shorter_side=args.shorter_side,
            images_per_shard=args.images_per_shard, quality=args.quality,
            workers=args.workers, overwrite=args.overwrite,
            progress=functools.partial(print, flush=True),
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    except DiskFull as e:
        # Nothing is lost (each shard is renamed into place whole, then
        # marked done): the line says how to carry on.
        if args.debug:
            raise
        print(f"keras-resnet prepare: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        # A full disk, a folder the user may not write: theirs to fix, not a bug.
        if args.debug:
            raise
        print(f"keras-resnet prepare: error: {e}", file=sys.stderr)
        return 1
    splits = ", ".join(
        f"{name} {index.counts[name]:,} images in {len(files)} shard{'s' * (len(files) != 1)}"
        for name, files in index.splits.items()
    )
    skipped = sum(len(items) for items in index.skipped.values())
    print(f"prepared {args.destination}: {splits}; {skipped} skipped")
    print(f"train with: keras-resnet train --data {shlex.quote(args.destination)}")
    return 0
