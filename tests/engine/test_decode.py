"""decode_image / probe_image on real photos in every supported container and mode."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recognition.engine.decode import DEFAULT_MAX_BYTES, decode_image, probe_image
from recognition.engine.errors import (
    CorruptImage,
    FileTooLarge,
    ImageError,
    NotAnImage,
    TooManyPixels,
    UnsupportedFormat,
)


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo(obama_rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(obama_rgb)


def assert_rgb(arr: np.ndarray, size: tuple[int, int]) -> None:
    assert arr.dtype == np.uint8
    assert arr.ndim == 3 and arr.shape[2] == 3
    assert arr.shape[:2] == (size[1], size[0])
    assert arr.flags.c_contiguous


@pytest.mark.parametrize(
    ("fmt", "kw"),
    [
        ("JPEG", {"quality": 92}),
        ("PNG", {}),
        ("WEBP", {"quality": 90}),
        ("BMP", {}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
        ("GIF", {}),
    ],
)
def test_formats_decode_to_rgb(photo: Image.Image, fmt: str, kw: dict) -> None:
    data = encode(photo, fmt, **kw)
    arr = decode_image(data)
    assert_rgb(arr, photo.size)
    ref = np.asarray(photo, dtype=np.float64)
    tolerance = 40 if fmt == "GIF" else 12  # GIF is palettised
    assert np.abs(arr.astype(np.float64) - ref).mean() < tolerance
    info = probe_image(data)
    assert (info.format, info.width, info.height) == (fmt, *photo.size)


def test_grey(photo: Image.Image) -> None:
    arr = decode_image(encode(photo.convert("L"), "PNG"))
    assert_rgb(arr, photo.size)
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    assert np.abs(arr[..., 0].astype(int) - np.asarray(photo.convert("L"), dtype=int)).max() == 0


def test_one_bit_and_palette(photo: Image.Image) -> None:
    assert_rgb(decode_image(encode(photo.convert("1"), "PNG")), photo.size)
    assert_rgb(decode_image(encode(photo.convert("P"), "PNG")), photo.size)


def test_rgba_is_composited_on_white(photo: Image.Image) -> None:
    rgba = photo.convert("RGBA")
    alpha = np.full(photo.size[::-1], 255, np.uint8)
    alpha[:, : photo.size[0] // 4] = 0  # left quarter fully transparent
    rgba.putalpha(Image.fromarray(alpha))
    for fmt in ("PNG", "WEBP", "TIFF"):
        arr = decode_image(encode(rgba, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
        assert_rgb(arr, photo.size)
        assert (arr[:, : photo.size[0] // 4 - 1] == 255).all(), fmt
        right = arr[:, photo.size[0] // 2 :].astype(int)
        assert np.abs(right - np.asarray(photo)[:, photo.size[0] // 2 :]).max() <= 2, fmt


def test_palette_with_transparency(photo: Image.Image) -> None:
    p = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    p.info["transparency"] = 0
    arr = decode_image(encode(p, "PNG", transparency=0))
    assert_rgb(arr, photo.size)


def test_16_bit_grey_is_scaled(photo: Image.Image) -> None:
    grey8 = np.asarray(photo.convert("L"), dtype=np.uint16)
    grey16 = grey8 * 257  # full 16-bit range
    im16 = Image.fromarray(grey16.astype(np.uint16))
    assert im16.mode.startswith("I;16")
    for fmt in ("PNG", "TIFF"):
        arr = decode_image(encode(im16, fmt))
        assert_rgb(arr, photo.size)
        assert np.abs(arr[..., 0].astype(int) - grey8.astype(int)).max() <= 1, fmt


def test_cmyk_jpeg_and_tiff(photo: Image.Image) -> None:
    cmyk = photo.convert("CMYK")
    for fmt in ("JPEG", "TIFF"):
        data = encode(cmyk, fmt)
        assert probe_image(data).mode == "CMYK"
        arr = decode_image(data)
        assert_rgb(arr, photo.size)
        assert np.abs(arr.astype(float) - np.asarray(photo, dtype=float)).mean() < 12, fmt


def test_gif_first_frame(photo: Image.Image) -> None:
    red = Image.new("RGB", (64, 48), (255, 0, 0))
    blue = Image.new("RGB", (64, 48), (0, 0, 255))
    frames = [blue, photo.resize((64, 48))]
    data = encode(red, "GIF", save_all=True, append_images=frames, duration=100, loop=0)
    info = probe_image(data)
    assert info.frames == 3
    arr = decode_image(data)
    assert_rgb(arr, (64, 48))
    assert (arr == [255, 0, 0]).all()


def test_path_and_bytes_agree(faces_dir: Path) -> None:
    path = faces_dir / "obama_small.jpg"
    a = decode_image(path)
    b = decode_image(str(path))
    c = decode_image(path.read_bytes())
    assert_rgb(a, (320, 240))
    assert (a == b).all() and (a == c).all()


def _exif_rotated_jpeg(photo: Image.Image, orientation: int) -> bytes:
    # Store the pixels so that applying `orientation` gives the upright photo back.
    undo = {
        3: Image.Transpose.ROTATE_180,
        6: Image.Transpose.ROTATE_90,  # stored rotated 90 CCW, displayed rotated 90 CW
        8: Image.Transpose.ROTATE_270,
        2: Image.Transpose.FLIP_LEFT_RIGHT,
    }[orientation]
    stored = photo.transpose(undo)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", [3, 6, 8, 2])
def test_exif_orientation_applied(photo: Image.Image, orientation: int) -> None:
    data = _exif_rotated_jpeg(photo, orientation)
    info = probe_image(data)
    assert info.orientation == orientation
    assert (info.width, info.height) == photo.size
    arr = decode_image(data)
    assert_rgb(arr, photo.size)
    assert np.abs(arr.astype(float) - np.asarray(photo, dtype=float)).mean() < 6


def test_exif_rotated_photo_gives_same_faces(photo: Image.Image, face_pipeline) -> None:
    upright = face_pipeline.process(encode(photo, "JPEG", quality=95))
    rotated = face_pipeline.process(_exif_rotated_jpeg(photo, 6))
    assert len(upright) == len(rotated) == 1
    bu, br = np.array(upright[0].box), np.array(rotated[0].box)
    assert np.abs(bu - br).max() < 6, (bu, br)
    assert upright[0].distance(rotated[0]) < 0.1


# ----------------------------------------------------------------------------- errors


def test_truncated_file_is_corrupt(faces_dir: Path) -> None:
    data = (faces_dir / "obama.jpg").read_bytes()
    cut = data[: len(data) // 2]
    probe_image(cut)  # the header is intact: probing passes
    with pytest.raises(CorruptImage) as err:
        decode_image(cut)
    assert "damaged or incomplete" in str(err.value)
    assert isinstance(err.value, ImageError) and isinstance(err.value, ValueError)


def test_truncated_png_is_corrupt(photo: Image.Image) -> None:
    data = encode(photo, "PNG")
    with pytest.raises(CorruptImage):
        decode_image(data[: len(data) * 2 // 3])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is text and not a picture\n" * 20,
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
        bytes(range(256)),
    ],
)
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(NotAnImage) as err:
        decode_image(data)
    assert "not an image" in str(err.value)
    with pytest.raises(NotAnImage):
        probe_image(data)


def test_unsupported_format_is_named(photo: Image.Image) -> None:
    data = encode(photo.resize((64, 64)), "ICO")
    with pytest.raises(UnsupportedFormat) as err:
        decode_image(data)
    assert "ICO" in str(err.value) and "JPEG" in str(err.value)
    assert isinstance(err.value, NotAnImage)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_pixel_bomb_header_is_rejected_before_decoding() -> None:
    bomb = _png_header_only(100_000, 100_000)  # claims 10 gigapixels in ~100 bytes
    for fn in (probe_image, decode_image):
        with pytest.raises(TooManyPixels) as err:
            fn(bomb)
        msg = str(err.value)
        assert "10000.0 megapixels" in msg and "limit is 40.0 megapixels" in msg


def test_pixel_limit_below_pillows_own() -> None:
    big = encode(Image.new("L", (8000, 6000)), "PNG", optimize=False)  # 48 MP, tiny file
    assert len(big) < 1_000_000
    with pytest.raises(TooManyPixels) as err:
        decode_image(big)
    assert "8000 x 6000 pixels (48.0 megapixels)" in str(err.value)
    assert probe_image(big, max_pixels=50_000_000).pixels == 48_000_000
    with pytest.raises(TooManyPixels):
        decode_image(encode(Image.new("RGB", (300, 200)), "PNG"), max_pixels=50_000)


def test_too_many_bytes(faces_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileTooLarge) as err:
        decode_image(b"\xff\xd8" + b"\0" * (DEFAULT_MAX_BYTES + 1_200_000))
    assert str(err.value).startswith("The file is 21.2 MB; the limit is 20.0 MB.")
    path = faces_dir / "obama.jpg"
    with pytest.raises(FileTooLarge) as err:
        decode_image(path, max_bytes=100_000)
    assert "The file is 0.3 MB; the limit is 0.1 MB." in str(err.value)
    with pytest.raises(FileTooLarge):
        probe_image(str(path), max_bytes=100_000)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        decode_image(tmp_path / "nope.jpg")
