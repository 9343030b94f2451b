"""Short runs of every recipe on one small folder: loss and time per epoch, side by side.

Writes scikit-learn's handwritten digits (1,797 scans, 10 classes) as a folder
of PNG files, trains ResNet-18 on it with each recipe through ``keras-resnet
train`` (one process per recipe, the same epochs, batch and image size; the
learning rate follows each recipe's own rule for the batch), and prints a
Markdown table: the training loss and the validation accuracy after each
epoch, and the seconds per epoch (the first epoch includes tracing). A short
run shows what each recipe costs and how its loss moves, not what it reaches
in its full length (600 epochs for torchvision-v2 and rsb-a1).

Usage:
    python examples/compare_recipes.py [--epochs 6] [--image-size 32] [--batch-size 32]
        [--recipes imagenet torchvision-v2 rsb-a1 rsb-a2 rsb-a3] [--model resnet18]
"""

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from keras_resnet.training.run_dir import read_backup_metadata

RECIPES = ("imagenet", "torchvision-v2", "rsb-a1", "rsb-a2", "rsb-a3")


def digits_folder(root):
    """The digits as ``root/<digit>/<index>.png``, upscaled to 32 px (the 8x8 scans are tiny)."""
    digits = load_digits()
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        folder = os.path.join(root, str(label))
        os.makedirs(folder, exist_ok=True)
        pixels = np.round(image * (255 / 16)).astype(np.uint8)
        rgb = Image.fromarray(pixels).convert("RGB").resize((32, 32), Image.BILINEAR)
        rgb.save(os.path.join(folder, f"{index}.png"))
    return root


def train(recipe, data, run_dir, args):
    """Runs ``keras-resnet train``: (rows of log.csv, seconds of training, training images)."""
    command = [
        sys.executable, "-m", "keras_resnet", "train", "--data", data, "--recipe", recipe,
        "--model", args.model, "--weights", "none", "--epochs", str(args.epochs),
        "--batch-size", str(args.batch_size), "--image-size", str(args.image_size),
        "--run-dir", run_dir, "--verbose", "0", "--seed", "0",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{recipe}: exit status {done.returncode}\n{done.stderr[-2000:]}")
    # The committed epochs' seconds, as the run's summary reports them.
    seconds = read_backup_metadata(os.path.join(run_dir, "backup"))["seconds"]
    images = re.search(r"(\d+) training images", done.stdout).group(1)
    with open(os.path.join(run_dir, "log.csv")) as f:
        return list(csv.DictReader(f)), seconds, images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        data = digits_folder(os.path.join(scratch, "digits"))
        results = {
            recipe: train(recipe, data, os.path.join(scratch, recipe), args)
            for recipe in args.recipes
        }
    images = next(iter(results.values()))[2]
    print(f"{args.model}, {args.image_size} px, batch {args.batch_size}, {args.epochs} epochs "
          f"on the digits as PNG files ({images} training images)\n")
    print("| recipe | training loss per epoch | validation accuracy per epoch | s / epoch |")
    print("| --- | --- | --- | ---: |")
    for recipe, (rows, seconds, _) in results.items():
        losses = " ".join(f"{float(r['loss']):.3f}" for r in rows)
        accuracy = " ".join(f"{float(r['val_accuracy']):.2f}" for r in rows)
        print(f"| `{recipe}` | {losses} | {accuracy} | {seconds / len(rows):.1f} |")


if __name__ == "__main__":
    main()
