"""The curves of a run: loss and accuracy per epoch, from its ``log.csv``."""

from keras_resnet.training.files import atomic_path
from keras_resnet.training.log import read_log


def plot_log(log_path, png_path):
    """Draws loss and accuracy per epoch (training and validation) into a PNG.

    Returns:
        ``png_path``, or None when matplotlib is missing or the log is empty.
    """
    rows = read_log(log_path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        return None
    if not rows:
        return None
    epochs = [int(r["epoch"]) for r in rows]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            key = prefix + metric
            if key in rows[0]:
                ax.plot(epochs, [float(r[key]) for r in rows], style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return png_path
