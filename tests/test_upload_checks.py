"""Hostile files are refused at upload (400, nothing stored), and what is stored carries no metadata."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from helpers import consent_for
from PIL import Image

from faceweb.wsgi import application
from recognition.api.tokens import create_token
from recognition.models import Photo

GPS = 0x8825
ORIENTATION = 0x0112


@pytest.fixture
def alice(make_user):
    user = make_user("alice", "uploader")
    consent_for(user, "enrol", "identify")
    return user


def png_strip(width: int, height: int) -> bytes:
    """A valid PNG header for width x height with a tiny compressed body (a strip "bomb")."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    rows = zlib.compress((b"\x00" + b"\x00" * width) * height, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def page_upload(client, name: str, data: bytes, purpose: str = "identify"):
    return client.post(reverse("photo-upload"),
                       {"photos": [SimpleUploadedFile(name, data, "image/jpeg")], "purpose": purpose})


def api_upload(client, key: str, name: str, data: bytes):
    return client.post("/api/v1/photos/", {"file": SimpleUploadedFile(name, data, "image/jpeg"),
                                           "purpose": "identify"}, HTTP_AUTHORIZATION=f"Token {key}")


def test_a_1000000_by_10_png_is_refused_at_upload(client, alice):
    strip = png_strip(1_000_000, 10)
    assert len(strip) < 100_000  # small on the wire, 10 MP declared: under the pixel limit
    client.force_login(alice)

    response = page_upload(client, "strip.png", strip)

    assert response.status_code == 400
    assert b"1000000 x 10 pixels" in response.content
    api = api_upload(client, create_token(user=alice, name="t").key, "strip.png", strip)
    assert api.status_code == 400 and "100 to 1" in api.json()["error"]["message"]
    assert not Photo.objects.exists()


def test_a_truncated_jpeg_is_refused_at_upload(client, alice, face_photo):
    data = face_photo("obama.jpg").read_bytes()
    cut = data[: len(data) * 2 // 3]
    client.force_login(alice)

    response = page_upload(client, "cut.jpg", cut)

    assert response.status_code == 400
    assert b"damaged or incomplete" in response.content
    api = api_upload(client, create_token(user=alice, name="t").key, "cut.jpg", cut)
    assert api.status_code == 400 and "damaged or incomplete" in api.json()["error"]["message"]
    assert not Photo.objects.exists()


def jpeg_with_gps(source, orientation: int = 1) -> bytes:
    image = Image.open(source).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def stored(photo: Photo) -> Image.Image:
    with storages["private"].open(photo.file.name) as fh:
        return Image.open(io.BytesIO(fh.read()))


@pytest.mark.parametrize("orientation", [1, 6])
def test_the_stored_original_has_no_exif_and_no_gps(client, alice, face_photo, orientation):
    upload = jpeg_with_gps(face_photo("obama.jpg"), orientation)
    assert Image.open(io.BytesIO(upload)).getexif().get_ifd(GPS)  # the upload does carry a location
    client.force_login(alice)

    assert page_upload(client, "holiday.jpg", upload).status_code == 302

    photo = Photo.objects.get()
    kept = stored(photo)
    assert not kept.getexif() and not kept.getexif().get_ifd(GPS)
    with storages["private"].open(photo.file.name) as fh:
        raw = fh.read()
    assert b"Exif" not in raw and b"PhoneMaker" not in raw
    # Orientation applied to the pixels: the stored image is upright, as recorded.
    original = Image.open(face_photo("obama.jpg"))
    expected = original.size if orientation == 1 else original.size[::-1]
    assert kept.size == expected == (photo.width, photo.height)


def test_a_png_loses_its_exif_and_text_chunks(client, alice, face_photo):
    image = Image.open(face_photo("obama.jpg")).convert("RGB")
    exif = Image.Exif()
    exif.get_ifd(GPS).update({1: "N", 2: (48.0, 51.0, 24.0)})
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Comment", "taken at home, 12 Rue X")
    out = io.BytesIO()
    image.save(out, "PNG", exif=exif.tobytes(), pnginfo=text)
    client.force_login(alice)

    assert page_upload(client, "home.png", out.getvalue()).status_code == 302

    with storages["private"].open(Photo.objects.get().file.name) as fh:
        raw = fh.read()
    assert b"eXIf" not in raw and b"Rue X" not in raw
    assert Image.open(io.BytesIO(raw)).size == image.size


def test_a_file_over_the_limit_is_refused_while_it_streams(client, alice, settings):
    settings.UPLOAD_MAX_BYTES = 200_000
    client.force_login(alice)

    response = page_upload(client, "huge.jpg", b"\xff\xd8" + b"\x00" * 1_000_000)

    assert response.status_code == 400
    assert b"huge.jpg: the file is larger than the limit of 0.2 MB" in response.content
    assert not Photo.objects.exists()


def test_a_request_declaring_a_body_over_the_limit_is_refused_before_it_is_read(settings):
    read = []

    class Body:
        def read(self, *args):
            read.append(args)
            return b""

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/photos/upload", "SERVER_NAME": "testserver",
               "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": Body(),
               "CONTENT_TYPE": "multipart/form-data; boundary=x",
               "CONTENT_LENGTH": str(settings.REQUEST_MAX_BYTES + 1)}
    answers = []
    body = application(environ, lambda status, headers: answers.append(status))
    assert answers == ["413 Request Entity Too Large"]
    assert b"the limit is" in b"".join(body) and read == []
