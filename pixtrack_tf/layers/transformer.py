"""The anchor spatial transformer of Sec. 4: T(theta)(Z_A).

"The ROI is specified by a spatial transform acting on a fixed anchor (a square region) Z_A ...
the transformation is not applied on the feature map, but on a fixed anchor Z_A ... Parameter
theta constrains the transform to only allow spatial shift and resizing. The resizing operation
takes consideration of image aspect ratio, so that ... the ROI on the real image is always a
square but with varying sizes."

Coordinates are normalised to [-1, 1] over the whole frame (x to the right, y down), so they
are the same on the full-resolution frame and on its 224x224 resized map. theta = (s, t_x, t_y):
the transformed anchor is centred at (t_x, t_y), and its side is s times the anchor's side, where
the anchor's side is ``anchor`` times the frame's shorter side. For a frame of aspect ratio
gamma = W / H the normalised half extents are therefore

    h_x = anchor * s * min(1, 1 / gamma),   h_y = anchor * s * min(1, gamma),

which is a square in the frame's pixels. The map is a product of two sigmoids (a soft box) so
that Eq. 4 has a gradient in theta.
"""

from __future__ import annotations

import keras
from keras import ops

from pixtrack_tf.layers.convlstm import PACKAGE

CENTROID_EPS = 1e-3  # sum p below this: the map holds no object, its centre is undefined


def mass_centre(maps):
    """Eq. 5 on maps (N, M, M, 1): the probability-weighted centre of each map in the normalised
    [-1, 1] coordinates of theta, as ((N, 2) centres (x, y), (N,) whether sum p > ``CENTROID_EPS``).
    An empty map's centre is (0, 0), the frame's centre."""
    m = ops.shape(maps)[1]
    grid = (2.0 * ops.cast(ops.arange(m), "float32") + 1.0) / ops.cast(m, "float32") - 1.0
    p = ops.cast(maps[..., 0], "float32")
    total = ops.sum(p, axis=(1, 2))
    cx = ops.sum(ops.sum(p, axis=1) * grid, axis=1) / ops.maximum(total, 1e-12)
    cy = ops.sum(ops.sum(p, axis=2) * grid, axis=1) / ops.maximum(total, 1e-12)
    return ops.stack([cx, cy], axis=-1), total > CENTROID_EPS


def anchor_half_extents(theta, aspect, anchor):
    """Normalised half width and height of T(theta)(Z_A); theta (B, 3), aspect (B, 1) = W / H."""
    s = theta[:, 0:1]
    hx = anchor * s * ops.minimum(1.0, 1.0 / aspect)
    hy = anchor * s * ops.minimum(1.0, aspect)
    return hx, hy


def object_theta(maps, aspect, anchor):
    """The theta whose T(theta)(Z_A) is the square around the object of each map: centred on the
    object's bounding box, side = its longer side in the frame's pixels (the inverse of the render).

    maps (N, S, S, 1) in [0, 1] (object where >= 0.5), aspect (N, 1) = W / H. Returns theta (N, 3)
    and valid (N,) (False for an empty map, whose theta is (1, 0, 0)). With normalised extents
    w_n, h_n of the box, the side in pixels over the frame's shorter side is
    max(w_n max(1, gamma), h_n max(1, 1 / gamma)) / 2, and s is that over ``anchor``.
    """
    n = ops.shape(maps)[1]
    obj = ops.cast(maps[..., 0] >= 0.5, "float32")  # (N, S, S)
    rows, cols = ops.max(obj, axis=2), ops.max(obj, axis=1)  # (N, S) each
    valid = ops.max(rows, axis=1) > 0

    def extent(v):  # first and one-past-last occupied index, normalised to [-1, 1]
        first = ops.cast(ops.argmax(v, axis=1), "float32")
        last = ops.cast(n - ops.argmax(ops.flip(v, axis=1), axis=1), "float32")
        return 2.0 * first / n - 1.0, 2.0 * last / n - 1.0

    x0, x1 = extent(cols)
    y0, y1 = extent(rows)
    gamma = ops.reshape(ops.cast(aspect, "float32"), (-1,))
    side = ops.maximum((x1 - x0) * ops.maximum(1.0, gamma), (y1 - y0) * ops.maximum(1.0, 1.0 / gamma)) / 2.0
    theta = ops.stack([side / anchor, (x0 + x1) / 2.0, (y0 + y1) / 2.0], axis=-1)
    return ops.where(valid[:, None], theta, ops.convert_to_tensor([[1.0, 0.0, 0.0]])), valid


@keras.saving.register_keras_serializable(package=PACKAGE)
class AnchorTransformer(keras.layers.Layer):
    """Renders T(theta)(Z_A) on a ``map_size`` x ``map_size`` grid (Sec. 4, Eq. 4).

    Call: ``layer(theta, aspect)`` with theta (B, 3) = (scale, shift_x, shift_y) and aspect (B, 1)
    the frame's width / height; returns (B, map_size, map_size, 1) in [0, 1].

    Args:
        map_size: side of the rendered map.
        anchor_size: the anchor Z_A (width, height) as fractions of the frame's shorter side (square).
        softness: width of the box's edge in map pixels.
    """

    def __init__(self, map_size=224, anchor_size=(0.5, 0.5), softness=1.0, **kwargs):
        super().__init__(**kwargs)
        anchor_size = tuple(float(a) for a in anchor_size)
        if len(anchor_size) != 2 or abs(anchor_size[0] - anchor_size[1]) > 1e-9:
            raise ValueError(
                f"AnchorTransformer: the anchor Z_A must be square in the frame's pixels, got anchor_size={anchor_size}"
            )
        if anchor_size[0] <= 0:
            raise ValueError(f"AnchorTransformer: anchor_size must be positive, got {anchor_size}")
        self.map_size = int(map_size)
        self.anchor_size = anchor_size
        self.softness = float(softness)

    def call(self, theta, aspect):
        theta = ops.cast(theta, self.compute_dtype)
        aspect = ops.reshape(ops.cast(aspect, self.compute_dtype), (-1, 1))
        n = self.map_size
        grid = (2.0 * ops.arange(n, dtype=self.compute_dtype) + 1.0) / n - 1.0  # pixel centres
        hx, hy = anchor_half_extents(theta, aspect, self.anchor_size[0])
        tau = self.softness * 2.0 / n
        gx = ops.sigmoid((hx - ops.abs(grid[None, :] - theta[:, 1:2])) / tau)  # (B, n)
        gy = ops.sigmoid((hy - ops.abs(grid[None, :] - theta[:, 2:3])) / tau)
        return (gy[:, :, None] * gx[:, None, :])[..., None]

    def compute_output_shape(self, theta_shape, aspect_shape):
        return (theta_shape[0], self.map_size, self.map_size, 1)

    def get_config(self):
        config = super().get_config()
        config.update(map_size=self.map_size, anchor_size=list(self.anchor_size), softness=self.softness)
        return config
