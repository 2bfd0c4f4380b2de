"""dlib's face-embedding ResNet rebuilt in Keras (TensorFlow backend, NHWC).

Two steps:

* :func:`convert` turns a parsed :class:`~recognition.engine.dlib_format.DlibNetwork` into a
  flat dict of float32 arrays in Keras layout (affine layers folded into the preceding
  convolution: ``W * gamma``, ``b * gamma + beta``) plus a JSON topology. That dict is
  what the embedder caches on disk.
* :func:`build_model` builds a ``keras.Model`` from such a dict. The model takes uint8
  RGB chips ``(N, 150, 150, 3)`` and does the preprocessing ``(pixel - mean) / 256``
  itself; it returns the raw (not normalised) 128-d descriptors.

dlib's ``add_prev`` accepts inputs of different shapes: the result has the larger size
in every dimension and the smaller input is zero-padded at the end (bottom, right,
trailing channels). :class:`ZeroPadAdd` reproduces that.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from recognition.engine.dlib_format import (
    AddPrevLayer,
    AffineLayer,
    ConvLayer,
    DlibFormatError,
    DlibNetwork,
    FcLayer,
    PoolLayer,
    ReluLayer,
)

logger = logging.getLogger(__name__)

#: Bump when the layout of converted weights changes (invalidates caches).
CONVERTED_FORMAT = 1
TOPOLOGY_KEY = "topology_json"
MEANS_KEY = "input_means"


# ---------------------------------------------------------------------------------------
# Conversion: dlib layer records -> folded Keras arrays + topology


def _fold(conv: ConvLayer, affine: AffineLayer | None) -> tuple[np.ndarray, np.ndarray]:
    """Fold an affine layer into a conv; return the Keras kernel (kh, kw, in, out) and bias."""
    w = conv.weight.astype(np.float64)
    b = conv.bias.astype(np.float64)
    if affine is not None:
        if affine.gamma.size != w.shape[0]:
            raise DlibFormatError(
                f"affine with {affine.gamma.size} channels after a {w.shape[0]}-filter conv"
            )
        gamma = affine.gamma.astype(np.float64)
        w = w * gamma[:, None, None, None]
        b = b * gamma + affine.beta.astype(np.float64)
    kernel = np.ascontiguousarray(w.transpose(2, 3, 1, 0), dtype=np.float32)
    return kernel, b.astype(np.float32)


def _pool_spec(layer: PoolLayer) -> dict[str, Any]:
    if layer.padding != (0, 0) or layer.is_global:
        raise DlibFormatError(f"unsupported pooling {layer}")
    return {"op": f"{layer.op}_pool", "size": list(layer.size), "stride": list(layer.stride)}


def convert(net: DlibNetwork) -> dict[str, np.ndarray]:
    """Convert parsed dlib layers into Keras-layout arrays and a topology (see module doc).

    The topology is recognised from the forward layer sequence: a stem
    ``conv [affine] [relu] max_pool``, residual blocks
    ``conv affine relu conv affine [avg_pool] add_prev relu`` (the avg pool, when present,
    is the shortcut of a down-sampling block), then ``avg_pool(everything) fc``.
    Anything else raises :class:`DlibFormatError`.
    """
    arrays: dict[str, np.ndarray] = {}
    ops: list[dict[str, Any]] = []  # folded ops: conv (with relu flag), pools, add, relu, fc
    layers = list(net.layers)
    i = 0
    n_conv = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, ConvLayer):
            affine = layers[i + 1] if i + 1 < len(layers) and isinstance(layers[i + 1], AffineLayer) else None
            i += 2 if affine is not None else 1
            relu = layer.relu
            if i < len(layers) and isinstance(layers[i], ReluLayer):
                relu = True
                i += 1
            name = f"conv{n_conv:02d}"
            n_conv += 1
            arrays[f"{name}_kernel"], arrays[f"{name}_bias"] = _fold(layer, affine)
            ops.append({"op": "conv", "name": name, "stride": list(layer.stride),
                        "padding": list(layer.padding), "relu": relu})
            continue
        if isinstance(layer, AffineLayer):
            raise DlibFormatError(f"affine layer #{i} does not follow a convolution")
        if isinstance(layer, PoolLayer):
            is_global_avg = layer.is_global and layer.op == "avg"
            ops.append({"op": "global_avg_pool"} if is_global_avg else _pool_spec(layer))
        elif isinstance(layer, AddPrevLayer):
            ops.append({"op": "add"})
        elif isinstance(layer, ReluLayer):
            ops.append({"op": "relu"})
        elif isinstance(layer, FcLayer):
            arrays["fc_kernel"] = np.ascontiguousarray(layer.weight, dtype=np.float32)
            if layer.bias is not None:
                arrays["fc_bias"] = layer.bias.astype(np.float32)
            ops.append({"op": "fc", "name": "fc", "bias": layer.bias is not None})
        i += 1

    topology = _group(ops)
    arrays[TOPOLOGY_KEY] = np.array(json.dumps(topology))
    arrays[MEANS_KEY] = net.input_means.astype(np.float64)
    return arrays


def _group(ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Group folded ops into stem / residual blocks / head, validating the sequence."""

    def fail(at: int) -> DlibFormatError:
        seq = " ".join(o["op"] for o in ops[max(0, at - 3) : at + 5])
        return DlibFormatError(f"unexpected layer sequence at op #{at}: ... {seq} ...")

    # Stem: convolutions up to and including the first max pool.
    i = 0
    while i < len(ops) and ops[i]["op"] == "conv":
        i += 1
    if i == 0 or i >= len(ops) or ops[i]["op"] != "max_pool":
        raise fail(i)
    i += 1
    stem = ops[:i]

    blocks: list[dict[str, Any]] = []
    while i < len(ops) and ops[i]["op"] == "conv":
        convs = []
        while i < len(ops) and ops[i]["op"] == "conv":
            convs.append(ops[i])
            i += 1
        shortcut = None
        if i < len(ops) and ops[i]["op"] in ("avg_pool", "max_pool"):
            shortcut = ops[i]
            i += 1
        if i + 1 >= len(ops) or ops[i]["op"] != "add" or ops[i + 1]["op"] != "relu":
            raise fail(i)
        if len(convs) < 1 or convs[-1]["relu"]:
            raise fail(i)
        blocks.append({"convs": convs, "shortcut": shortcut})
        i += 2

    head = ops[i:]
    if [o["op"] for o in head] != ["global_avg_pool", "fc"]:
        raise fail(i)
    return {"format": CONVERTED_FORMAT, "stem": stem, "blocks": blocks, "head": head}


# ---------------------------------------------------------------------------------------
# Keras model


def _keras():
    """Import Keras and make sure it runs on TensorFlow (the embedder compiles a tf.function)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"Keras backend is {keras.backend.backend()!r}; the face embedder needs KERAS_BACKEND=tensorflow"
        )
    return keras


def _layers():
    keras = _keras()
    ops = keras.ops

    class Preprocess(keras.layers.Layer):
        """uint8 RGB -> float32 (pixel - mean) / 256, as dlib's input_rgb_image_sized."""

        def __init__(self, means: np.ndarray, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.means = np.asarray(means, dtype=np.float32).reshape(1, 1, 1, 3)

        def call(self, x):
            return (ops.cast(x, "float32") - self.means) * (1.0 / 256.0)

    class ZeroPadAdd(keras.layers.Layer):
        """dlib add_prev: sum of two NHWC tensors, the smaller zero-padded at the end per dim."""

        def call(self, a, b):
            sa, sb = a.shape[1:], b.shape[1:]
            target = [max(p, q) for p, q in zip(sa, sb, strict=True)]

            def pad(t, shape):
                widths = [(0, 0)] + [(0, tgt - s) for s, tgt in zip(shape, target, strict=True)]
                return ops.pad(t, widths) if any(w[1] for w in widths) else t

            return pad(a, sa) + pad(b, sb)

        def compute_output_shape(self, a_shape, b_shape):
            return (a_shape[0], *[max(p, q) for p, q in zip(a_shape[1:], b_shape[1:], strict=True)])

    return keras, Preprocess, ZeroPadAdd


def build_model(weights: Mapping[str, np.ndarray], input_size: tuple[int, int] = (150, 150)):
    """Build the Keras model from converted weights (output of :func:`convert` or the cache)."""
    keras, Preprocess, ZeroPadAdd = _layers()
    L = keras.layers
    topology = json.loads(str(weights[TOPOLOGY_KEY]))
    if topology.get("format") != CONVERTED_FORMAT:
        raise ValueError(
            f"converted weights have format {topology.get('format')}, expected {CONVERTED_FORMAT}"
        )
    assigned: list[tuple[Any, list[np.ndarray]]] = []

    def conv(x, spec):
        kernel = weights[f"{spec['name']}_kernel"]
        kh, kw, _, filters = kernel.shape
        (sy, sx), (py, px) = spec["stride"], spec["padding"]
        same = (sy, sx) == (1, 1) and kh % 2 == 1 and kw % 2 == 1 and (py, px) == (kh // 2, kw // 2)
        if not same and (py or px):
            x = L.ZeroPadding2D(((py, py), (px, px)))(x)
        layer = L.Conv2D(filters, (kh, kw), strides=(sy, sx), padding="same" if same else "valid",
                         activation="relu" if spec["relu"] else None, name=spec["name"])
        y = layer(x)
        assigned.append((layer, [kernel, weights[f"{spec['name']}_bias"]]))
        return y

    def pool(x, spec):
        cls = L.MaxPooling2D if spec["op"] == "max_pool" else L.AveragePooling2D
        return cls(pool_size=tuple(spec["size"]), strides=tuple(spec["stride"]), padding="valid")(x)

    inputs = keras.Input(shape=(*input_size, 3), dtype="uint8", name="chips")
    x = Preprocess(weights[MEANS_KEY], name="preprocess")(inputs)
    for spec in topology["stem"]:
        x = conv(x, spec) if spec["op"] == "conv" else pool(x, spec)
    for n, block in enumerate(topology["blocks"]):
        shortcut = x
        for spec in block["convs"]:
            x = conv(x, spec)
        if block["shortcut"] is not None:
            shortcut = pool(shortcut, block["shortcut"])
        x = ZeroPadAdd(name=f"add{n:02d}")(x, shortcut)
        x = L.ReLU()(x)
    x = L.GlobalAveragePooling2D()(x)
    fc_spec = topology["head"][-1]
    fc = L.Dense(weights["fc_kernel"].shape[1], use_bias=fc_spec["bias"], name="fc")
    x = fc(x)
    assigned.append((fc, [weights["fc_kernel"]] + ([weights["fc_bias"]] if fc_spec["bias"] else [])))

    model = keras.Model(inputs, x, name="dlib_resnet_v1")
    for layer, values in assigned:
        layer.set_weights(values)
    logger.debug("built %s: %d parameters", model.name, model.count_params())
    return model
