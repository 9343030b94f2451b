"""The lesion study of Veit et al. (2016) on small data.

Trains a ResNet and the plain net of the same depth (CIFAR networks) with one
recipe, then deletes each block in turn at test time and plots the test
accuracy per deleted block for both. A residual block deleted leaves its
shortcut; a plain block deleted passes its input on (blocks that change the
shape cannot be skipped in a plain net and are left out).

Usage:
    python examples/lesion.py                        # ResNet-20 vs plain-20, digits
    python examples/lesion.py --depth 56 --epochs 10
    python examples/lesion.py --survival-prob 0.5    # ResNet trained with stochastic depth
"""

import argparse

import numpy as np

import paper_data


def train(name, train_data, *, epochs, batch_size, seed, survival_prob=None):
    # keras_resnet before keras: it keeps TensorFlow's native start-up lines out.
    import keras_resnet  # isort: skip

    import keras

    keras.utils.set_random_seed(seed)
    x, y = train_data
    options = {} if survival_prob is None else {"survival_prob": survival_prob}
    model = keras_resnet.build(name, input_shape=x.shape[1:], classes=int(y.max()) + 1, **options)
    model.compile(
        keras.optimizers.SGD(0.05, momentum=0.9),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="image folder, one subfolder per class (default: digits)")
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--depth", type=int, default=20, help="6n + 2 (default 20)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--survival-prob", type=float, help="stochastic depth p_L for the ResNet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="lesion.png")
    args = parser.parse_args()

    from keras_resnet import analysis

    if args.data:
        train_data, test_data, _ = paper_data.image_folder(args.data, size=args.size)
    else:
        train_data, test_data, _ = paper_data.digits(size=args.size)

    results = []
    for name, survival_prob in ((f"resnet{args.depth}", args.survival_prob),
                                (f"plain{args.depth}", None)):
        model = train(name, train_data, epochs=args.epochs, batch_size=args.batch_size,
                      seed=args.seed, survival_prob=survival_prob)
        result = analysis.lesion(model, test_data)
        results.append(result)
        accuracies = np.array(list(result.accuracies.values()))
        print(f"{name:10s} intact {result.baseline:.3f}  one block deleted: "
              f"median {np.nanmedian(accuracies):.3f}, min {np.nanmin(accuracies):.3f}, "
              f"max {np.nanmax(accuracies):.3f}", flush=True)
        print("   " + "  ".join(f"{k}={v:.2f}" for k, v in result.accuracies.items()), flush=True)
    analysis.plot_lesion(results, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
