"""Writes the registry's records of torchvision's and timm's ResNet checkpoints.

Usage (from the repository root, with torchvision and timm installed):

    python weights/pytorch_records.py --timm-results PATH/results-imagenet.csv

Every field comes from its publisher: torchvision's ``*_Weights`` enums
(URL, accuracies, parameter count, evaluation transform) and timm's
pretrained configurations (URL, mean/std, interpolation) plus its published
results table (``results/results-imagenet.csv`` in timm's repository: top-1,
top-5 and the crop they were measured with). The hash is the one both state:
the sha256 prefix in the file name, which torch hub checks. Rerun it when the
publishers add files; ``tests/test_pytorch_registry.py`` checks the records
against the installed torchvision and timm.
"""

import argparse
import csv
import json
import math
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
FOLDER = os.path.join(ROOT, "keras_resnet", "weights")

#: torchvision's builder name -> this package's model (torchvision's
#: ResNet-50/101/152 are the "ResNet-B" layout: stride on the 3x3).
TORCHVISION_MODELS = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50b",
    "resnet101": "resnet101b",
    "resnet152": "resnet152b",
    "wide_resnet50_2": "wide_resnet50_2",
    "wide_resnet101_2": "wide_resnet101_2",
    "resnext50_32x4d": "resnext50_32x4d",
    "resnext101_32x8d": "resnext101_32x8d",
    "resnext101_64x4d": "resnext101_64x4d",
}

#: timm's ``model.tag`` -> this package's model: timm's best-scoring
#: checkpoints of each layout that are published with a hash (a GitHub
#: release file named with its sha256 prefix) under a permissive licence.
TIMM_WEIGHTS = {
    "resnet50.a1_in1k": "resnet50b",
    "resnet50.a1h_in1k": "resnet50b",
    "resnet101.a1h_in1k": "resnet101b",
    "resnet152.a1h_in1k": "resnet152b",
    "resnet50c.gluon_in1k": "resnet50c",
    "resnet18d.ra2_in1k": "resnet18d",
    "resnet34d.ra2_in1k": "resnet34d",
    "resnet50d.a1_in1k": "resnet50d",
    "resnet50d.ra2_in1k": "resnet50d",
    "resnet101d.ra2_in1k": "resnet101d",
    "resnet152d.ra2_in1k": "resnet152d",
    "resnext50_32x4d.a1h_in1k": "resnext50_32x4d",
    # Channel attention: each network's best checkpoint in timm's table.
    "seresnet50.ra2_in1k": "seresnet50",
    "seresnet152d.ra2_in1k": "seresnet152d",
    "seresnext26d_32x4d.bt_in1k": "seresnext26d_32x4d",
    "seresnext26t_32x4d.bt_in1k": "seresnext26t_32x4d",
    "seresnext50_32x4d.racm_in1k": "seresnext50_32x4d",
    "seresnext101_32x4d.gluon_in1k": "seresnext101_32x4d",
    "seresnext101_32x8d.ah_in1k": "seresnext101_32x8d",
    "seresnext101d_32x8d.ah_in1k": "seresnext101d_32x8d",
    "seresnext101_64x4d.gluon_in1k": "seresnext101_64x4d",
    "ecaresnetlight.miil_in1k": "ecaresnetlight",
    "ecaresnet26t.ra2_in1k": "ecaresnet26t",
    "ecaresnet50d.miil_in1k": "ecaresnet50d",
    "ecaresnet50t.ra2_in1k": "ecaresnet50t",
    "ecaresnet101d.miil_in1k": "ecaresnet101d",
    "ecaresnet269d.ra2_in1k": "ecaresnet269d",
    "resnetrs50.tf_in1k": "resnetrs50",
    "resnetrs101.tf_in1k": "resnetrs101",
    "resnetrs152.tf_in1k": "resnetrs152",
    "resnetrs200.tf_in1k": "resnetrs200",
    "resnetrs270.tf_in1k": "resnetrs270",
    "resnetrs350.tf_in1k": "resnetrs350",
    "resnetrs420.tf_in1k": "resnetrs420",
}

#: Checkpoints whose accuracy is recorded at timm's test size (its
#: ``test_input_size``), not at 224 px: ResNet-RS is evaluated larger than it
#: is trained (Bello et al. 2021, Table 7), and the catalogue builds it there.
AT_TEST_SIZE = {name for name in TIMM_WEIGHTS if name.startswith("resnetrs")}

# torch hub's rule: the digits after the last "-" of the file name.
_HASH_PREFIX = re.compile(r"-([a-f0-9]+)\.")


def hash_prefix(file_name):
    """The sha256 prefix a torch hub file name carries (``resnet50-11ad3fa6.pth``)."""
    match = _HASH_PREFIX.search(file_name)
    if match is None:
        raise ValueError(f"{file_name!r} carries no hash prefix")
    return match.group(1)


def preprocessing_of(mean, std):
    """The ``preprocess_input`` mode whose constants are ``mean`` and ``std``."""
    from keras_resnet import preprocessing

    # "tf" maps [0, 255] to [-1, 1]: mean 0.5 and std 0.5 on [0, 1] pixels.
    modes = {"torch": (preprocessing.TORCH_MEAN, preprocessing.TORCH_STD), "tf": ((0.5,) * 3,) * 2}
    for mode, (ref_mean, ref_std) in modes.items():
        if _close(mean, ref_mean) and _close(std, ref_std):
            return mode
    raise ValueError(f"no preprocess_input mode has mean={mean} std={std}")


def _close(a, b):
    return all(abs(x - y) < 1e-6 for x, y in zip(a, b, strict=True))


def torchvision_records():
    import torchvision.models as tvm

    records = []
    for builder, model in TORCHVISION_MODELS.items():
        for weights in tvm.get_model_weights(builder):
            transform, meta = weights.transforms(), weights.meta
            metrics = meta["_metrics"]["ImageNet-1K"]
            file_name = weights.url.rsplit("/", 1)[-1]
            mean, std = list(transform.mean), list(transform.std)
            records.append(
                {
                    "model": model,
                    "tag": weights.name.lower(),
                    "include_top": True,
                    "file_name": file_name,
                    "url": weights.url,
                    "file_hash": hash_prefix(file_name),
                    "hash_algorithm": "sha256",
                    "size": None,
                    "num_params": meta["num_params"],
                    "classes": len(meta["categories"]),
                    "preprocessing": preprocessing_of(mean, std),
                    "top1": round(metrics["acc@1"] / 100, 5),
                    "top5": round(metrics["acc@5"] / 100, 5),
                    "accuracy_source": f"torchvision {builder} {weights.name} ({meta['recipe']})",
                    "license": "BSD-3-Clause",
                    "source": "torchvision",
                    "resolution": transform.crop_size[0],
                    "eval_transform": {
                        "resize": transform.resize_size[0],
                        "crop": transform.crop_size[0],
                        "interpolation": transform.interpolation.value,
                        "mean": mean,
                        "std": std,
                    },
                }
            )
    return records


def timm_records(results_csv):
    import timm.models

    with open(results_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    records = []
    for name, model in TIMM_WEIGHTS.items():
        cfg = timm.models.get_pretrained_cfg(name).to_dict()
        # Published accuracy at 224 px where timm measured it there, else at
        # the configuration's size (its test size for AT_TEST_SIZE), with the
        # crop it was measured with.
        sizes = {int(r["img_size"]): r for r in rows if r["model"] == name}
        if name in AT_TEST_SIZE:
            row = sizes[cfg["test_input_size"][-1]]
        else:
            row = sizes.get(224) or sizes[cfg["input_size"][-1]]
        crop, crop_pct = int(row["img_size"]), float(row["crop_pct"])
        file_name = cfg["url"].rsplit("/", 1)[-1]
        mean, std = list(cfg["mean"]), list(cfg["std"])
        records.append(
            {
                "model": model,
                "tag": name.split(".", 1)[1],
                "include_top": True,
                "file_name": file_name,
                "url": cfg["url"],
                "file_hash": hash_prefix(file_name),
                "hash_algorithm": "sha256",
                "size": None,
                "num_params": None,
                "classes": cfg["num_classes"],
                "preprocessing": preprocessing_of(mean, std),
                "top1": round(float(row["top1"]) / 100, 5),
                "top5": round(float(row["top5"]) / 100, 5),
                "accuracy_source": f"timm results-imagenet.csv ({name}, {crop} px, crop {crop_pct})",
                "license": _spdx(cfg["license"]),
                "source": "timm",
                "resolution": crop,
                "eval_transform": {
                    # timm's rule: scale_size = floor(img_size / crop_pct).
                    "resize": math.floor(crop / crop_pct),
                    "crop": crop,
                    "interpolation": row["interpolation"],
                    "mean": mean,
                    "std": std,
                },
            }
        )
    return records


def _spdx(license):
    return {"apache-2.0": "Apache-2.0", "bsd-3-clause": "BSD-3-Clause"}.get(license, license)


def with_param_counts(records):
    """Fills ``num_params`` by building each model (timm states no count per file).

    Counted as PyTorch counts (``parameters()``, BatchNorm statistics are
    buffers): the trainable weights, as torchvision's records state theirs.
    """

    from keras_resnet import catalog

    counts = {}
    for record in records:
        if record["num_params"] is None:
            if record["model"] not in counts:
                model = catalog.build(record["model"], weights=None, classes=record["classes"])
                counts[record["model"]] = sum(
                    math.prod(w.shape) for w in model.trainable_weights
                )
            record["num_params"] = counts[record["model"]]
    return records


def write(path, about, records):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"about": about, "records": records}, f, indent=1)
        f.write("\n")
    print(f"{len(records)} records -> {os.path.normpath(path)}", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--timm-results", required=True, help="timm's results/results-imagenet.csv"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    write(
        os.path.join(FOLDER, "registry-torchvision.json"),
        "torchvision's ResNet checkpoints (written by weights/pytorch_records.py).",
        torchvision_records(),
    )
    write(
        os.path.join(FOLDER, "registry-timm.json"),
        "timm's ResNet checkpoints (written by weights/pytorch_records.py).",
        with_param_counts(timm_records(args.timm_results)),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
