"""Converting legacy ResNeXt files to the grouped ``Conv2D`` kernel.

Before Keras had grouped convolutions, the 3x3 grouped convolution of a
ResNeXt block (``filters`` channels in ``groups`` groups of ``c`` channels)
was built in two layers:

1. ``<block>_2_conv``: a ``DepthwiseConv2D`` with ``depth_multiplier = c``,
   kernel ``(kh, kw, filters, c)``. Its output channel ``i * c + m`` is input
   channel ``i`` convolved with the kernel slice ``[:, :, i, m]``.
2. A summation of those ``filters * c`` channels back to ``filters``:

   * keras-applications (the published ``resnext*.h5`` files): a
     non-trainable 1x1 ``Conv2D`` named ``<block>_2_gconv`` with a 0/1 kernel
     ``(1, 1, filters * c, filters)``, saved in the file;
   * the tf.keras seed code: a reshape of the ``filters * c`` channels to
     ``(groups, c, c)`` and a Lambda ``sum(x[:, :, :, :, i] for i in range(c))``.
     On the 6-D tensor ``(batch, h, w, groups, c, c)`` that index is axis 4,
     the input channel within the group, not the last (multiplier) axis: so
     depthwise channel ``(g * c + k) * c + m`` goes to output ``g * c + m``,
     the same grouping as the ``_2_gconv`` kernel. Nothing is saved for it.

Both are linear maps, so the pair is one convolution whose dense kernel is
``W[h, w, i, o] = sum_m K[h, w, i, m] * S[i * c + m, o]`` (``S`` the summing
matrix). A grouped ``Conv2D`` stores only the diagonal blocks of ``W``; the
conversion checks that everything off those blocks is zero, so a file that
is not a grouped convolution is refused rather than silently changed.
"""

import numpy as np


def looks_depthwise(kernel_shape, file_shapes, groups):
    """True when a grouped layer's file entry is a legacy depthwise kernel.

    Args:
        kernel_shape: The grouped kernel's shape, ``(kh, kw, cin // groups, cout)``.
        file_shapes: Shapes of the arrays the file holds for that layer.
        groups: The layer's ``groups``.
    """
    if groups <= 1 or len(file_shapes) != 1 or len(file_shapes[0]) != 4:
        return False
    kh, kw, cin_per_group, _ = kernel_shape
    fkh, fkw, fcin, _ = file_shapes[0]
    return (fkh, fkw, fcin) == (kh, kw, cin_per_group * groups) and tuple(
        file_shapes[0]
    ) != tuple(kernel_shape)


def lambda_sum_matrix(channels, depth_multiplier):
    """The summing matrix of the seed's reshape + Lambda.

    Depthwise channel ``j = i * c + m`` (input ``i = g * c + k``, multiplier
    ``m``) is summed into output ``g * c + m``, where ``g = i // c``.

    Args:
        channels: Input (and output) channels of the block's 3x3 stage.
        depth_multiplier: The depthwise multiplier ``c`` (= channels // groups).

    Returns:
        A 0/1 array of shape ``(channels * depth_multiplier, channels)``.
    """
    c = depth_multiplier
    j = np.arange(channels * c)
    group, multiplier = (j // c) // c, j % c
    matrix = np.zeros((channels * c, channels), dtype=np.float32)
    matrix[j, group * c + multiplier] = 1.0
    return matrix


def grouped_kernel(depthwise_kernel, groups, summing=None, *, layer_name="?"):
    """Returns the grouped ``Conv2D`` kernel equal to a legacy pair of layers.

    Args:
        depthwise_kernel: ``(kh, kw, cin, c)`` kernel of ``<block>_2_conv``.
        groups: The ``groups`` of the target ``Conv2D``.
        summing: The ``_2_gconv`` kernel, ``(1, 1, cin * c, cout)`` or
            ``(cin * c, cout)``; None for the seed's Lambda summation.
        layer_name: Used in error messages.

    Returns:
        A kernel of shape ``(kh, kw, cin // groups, cout)``.

    Raises:
        ValueError: If the shapes disagree, or if the pair is not a grouped
            convolution with ``groups`` groups.
    """
    kernel = np.asarray(depthwise_kernel)
    kh, kw, cin, c = kernel.shape
    if summing is None:
        summing = lambda_sum_matrix(cin, c)
    summing = np.asarray(summing)
    summing = summing.reshape(summing.shape[-2:])
    if summing.shape[0] != cin * c:
        raise ValueError(
            f"Legacy ResNeXt layer {layer_name!r}: the depthwise kernel {kernel.shape} "
            f"gives {cin * c} channels but the summing kernel expects {summing.shape[0]}."
        )
    cout = summing.shape[1]
    if cin % groups or cout % groups:
        raise ValueError(
            f"Legacy ResNeXt layer {layer_name!r}: {cin} inputs and {cout} outputs "
            f"cannot be split into {groups} groups."
        )
    # W[h, w, i, o] = sum_m K[h, w, i, m] * S[i * c + m, o], as one batched
    # matrix product over i (einsum would not use BLAS here).
    per_input = kernel.astype(np.float64).transpose(2, 0, 1, 3).reshape(cin, kh * kw, c)
    dense = np.matmul(per_input, summing.astype(np.float64).reshape(cin, c, cout))
    dense = dense.reshape(cin, kh, kw, cout).transpose(1, 2, 0, 3)
    cin_g, cout_g = cin // groups, cout // groups
    blocks = dense.reshape(kh, kw, groups, cin_g, groups, cout_g)
    diagonal = np.eye(groups, dtype=bool)[None, None, :, None, :, None]
    if np.any(np.where(diagonal, 0.0, blocks)):
        raise ValueError(
            f"Legacy ResNeXt layer {layer_name!r} is not a grouped convolution "
            f"with groups={groups}: some weights connect channels of different "
            "groups. The file was not written by a ResNeXt block."
        )
    # Output o of group g reads only inputs g * cin_g + k: keep block (g, g).
    per_group = np.stack([blocks[:, :, g, :, g, :] for g in range(groups)], axis=-2)
    return per_group.reshape(kh, kw, cin_g, cout).astype(kernel.dtype)
