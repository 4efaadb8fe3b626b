"""Assessment photos: JPEG, PNG and HEIC in; JPEG out, downscaled, without EXIF; EXIF kept for staff;
oversized uploads, non-images and decompression bombs refused with a reason."""

from __future__ import annotations

import io

import pillow_heif
import pytest
from PIL import Image

from emergency.core.errors import InvalidInput
from emergency.dispatch.photos import PhotoLimits, prepare_photo

LIMITS = PhotoLimits(max_bytes=15 * 1_048_576, max_edge_px=1600, max_pixels=100_000_000)


def exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x0132] = "2026:07:01 09:45:12"  # DateTime
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (28.0, 3.0, 0.0)
    gps[3], gps[4] = "E", (121.0, 30.0, 36.0)
    return exif


def jpeg(width: int = 3200, height: int = 2400, *, with_exif: bool = True) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.save(out, format="JPEG", exif=exif_with_gps() if with_exif else Image.Exif())
    return out.getvalue()


def test_a_jpeg_is_downscaled_and_stored_without_its_exif_which_staff_get_as_data() -> None:
    stored = prepare_photo("pole.JPG", jpeg(), LIMITS)
    assert (stored.width, stored.height) == (1600, 1200)
    assert stored.filename == "pole.jpg" and stored.content_type == "image/jpeg"
    again = Image.open(io.BytesIO(stored.data))
    assert again.format == "JPEG" and again.size == (1600, 1200)
    assert not again.getexif(), "the stored image must carry no EXIF"
    assert b"TestCam" not in stored.data and b"Exif" not in stored.data
    assert stored.exif["Make"] == "TestCam" and stored.exif["Model"] == "Model X"
    assert stored.exif["taken_at"] == "2026-07-01T09:45:12"
    assert stored.exif["gps_lat"] == pytest.approx(28.05)
    assert stored.exif["gps_lon"] == pytest.approx(121.51)


def test_a_small_photo_is_not_enlarged() -> None:
    stored = prepare_photo("small.jpg", jpeg(640, 480, with_exif=False), LIMITS)
    assert (stored.width, stored.height) == (640, 480) and stored.exif == {}


def test_a_png_with_transparency_becomes_a_jpeg() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (2000, 1000), (0, 0, 255, 128)).save(out, format="PNG")
    stored = prepare_photo("wire.png", out.getvalue(), LIMITS)
    assert Image.open(io.BytesIO(stored.data)).format == "JPEG"
    assert (stored.width, stored.height) == (1600, 800) and stored.filename == "wire.jpg"


def test_a_heic_from_a_phone_is_converted_with_its_exif_kept_for_staff() -> None:
    image = Image.new("RGB", (1800, 1200), (10, 120, 10))
    heif = pillow_heif.from_pillow(image)
    out = io.BytesIO()
    heif.save(out, quality=60, exif=exif_with_gps().tobytes())
    data = out.getvalue()
    assert data[4:12] in (b"ftypheic", b"ftypmif1", b"ftypheix"), data[:16]
    stored = prepare_photo("IMG_0001.HEIC", data, LIMITS)
    assert Image.open(io.BytesIO(stored.data)).format == "JPEG"
    assert (stored.width, stored.height) == (1600, 1067)
    assert stored.filename == "IMG_0001.jpg"
    assert stored.exif["Make"] == "TestCam" and stored.exif["gps_lat"] == pytest.approx(28.05)
    assert b"TestCam" not in stored.data


def test_an_upload_above_the_size_limit_is_refused_with_the_limit() -> None:
    with pytest.raises(InvalidInput, match=r"big\.jpg is .* MB; photos may be at most 1 MB"):
        prepare_photo("big.jpg", b"\xff" * (1_048_576 + 1), PhotoLimits(1_048_576, 1600, 100_000_000))


def test_something_that_is_not_an_image_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"notes\.jpg is not an image"):
        prepare_photo("notes.jpg", b"%PDF-1.7 not a photo at all", LIMITS)
    with pytest.raises(InvalidInput, match="is empty"):
        prepare_photo("empty.jpg", b"", LIMITS)


def test_a_format_that_is_not_a_phone_photo_is_refused() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="GIF")
    with pytest.raises(InvalidInput, match="is a GIF image; send a JPEG, PNG or HEIC photo"):
        prepare_photo("anim.gif", out.getvalue(), LIMITS)


@pytest.mark.parametrize("size", [(1001, 1000), (2100, 1000), (5000, 5000)])
def test_a_decompression_bomb_is_refused(size: tuple[int, int]) -> None:
    # A small file that decodes to more pixels than allowed: just above, twice above, far above.
    out = io.BytesIO()
    Image.new("L", size).save(out, format="PNG")
    assert len(out.getvalue()) < 100_000
    with pytest.raises(InvalidInput, match="more than 1 million pixels"):
        prepare_photo("bomb.png", out.getvalue(), PhotoLimits(15 * 1_048_576, 1600, 1_000_000))
    # The process-wide limit is left as it was.
    assert Image.MAX_IMAGE_PIXELS != 1_000_000
