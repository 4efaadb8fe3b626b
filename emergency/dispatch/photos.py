"""Damage-assessment photos: checked, converted to JPEG, downscaled, and stripped of their EXIF.

A crew's phone sends JPEG, PNG or HEIC (the iPhone's default). Whatever arrives is decoded once,
refused with a reason when it is too large, not an image, or a decompression bomb, and stored as a
JPEG no larger than the longest edge the utility set (`assessment.photo_max_edge_px`). The EXIF
(when and where it was taken, the camera) is read into plain data for staff and never written into
the stored image: the image bytes can be shown or exported anywhere without carrying a location.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from emergency.core.errors import InvalidInput

# Registering teaches Pillow to open HEIC/HEIF; done once, at import.
register_heif_opener()

# What a phone sends, by Pillow's format name. Anything else is refused even if Pillow can read it:
# a TIFF or a PSD is not what a crew photographs with.
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "HEIF"})
JPEG_QUALITY = 85
# EXIF fields kept for staff: when, which camera, and the GPS block (decoded below).
_EXIF_FIELDS = ("DateTimeOriginal", "DateTime", "Make", "Model", "Orientation")
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825


@dataclass(frozen=True)
class PhotoLimits:
    max_bytes: int  # the upload as sent
    max_edge_px: int  # the stored JPEG's longest edge
    max_pixels: int  # decoded pixels; more is a decompression bomb


@dataclass(frozen=True)
class StoredPhoto:
    """A photo as it is stored: JPEG bytes without EXIF, its size, and the EXIF for staff."""

    filename: str
    data: bytes
    width: int
    height: int
    exif: dict[str, Any]

    content_type: str = "image/jpeg"

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def prepare_photo(filename: str, data: bytes, limits: PhotoLimits) -> StoredPhoto:
    """Check, decode and convert one uploaded photo; raises InvalidInput naming the file and why."""
    name = (filename or "photo").strip()[:200] or "photo"
    if len(data) > limits.max_bytes:
        raise InvalidInput(
            f"{name} is {len(data) / 1_048_576:.1f} MB; photos may be at most "
            f"{limits.max_bytes / 1_048_576:.0f} MB",
            field="photos",
        )
    if not data:
        raise InvalidInput(f"{name} is empty", field="photos")
    image = _open(name, data, limits.max_pixels)
    exif = staff_exif(image)
    # Phones store the picture sideways and say so in EXIF; turn it upright before EXIF is dropped.
    upright = ImageOps.exif_transpose(image)
    upright = upright.convert("RGB")
    upright.thumbnail((limits.max_edge_px, limits.max_edge_px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # No `exif=` argument: the stored JPEG carries no EXIF at all (no location, no camera).
    upright.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    stored_name = name.rsplit(".", 1)[0] + ".jpg" if "." in name else name + ".jpg"
    return StoredPhoto(stored_name[:200], out.getvalue(), upright.width, upright.height, exif)


def _open(name: str, data: bytes, max_pixels: int) -> Image.Image:
    """Decode the image, refusing what is not a phone photo or would decompress into too many pixels."""
    # Pillow checks MAX_IMAGE_PIXELS when it opens a file: a warning above it, an error above twice.
    # Both are refusals here, with our limit, not Pillow's process-wide default.
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED_FORMATS:
                raise InvalidInput(
                    f"{name} is a {image.format} image; send a JPEG, PNG or HEIC photo", field="photos"
                )
            if image.width * image.height > max_pixels:
                raise InvalidInput(_bomb(name, max_pixels), field="photos")
            image.load()
            return image
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InvalidInput(_bomb(name, max_pixels), field="photos") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidInput(
            f"{name} is not an image (JPEG, PNG or HEIC) or is damaged", field="photos"
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _bomb(name: str, max_pixels: int) -> str:
    return f"{name} has more than {max_pixels / 1e6:.0f} million pixels; it is refused"


def staff_exif(image: Image.Image) -> dict[str, Any]:
    """The EXIF staff may read: time taken, camera, orientation, GPS position (decimal degrees)."""
    exif = image.getexif()
    if not exif:
        return {}
    tags = {ExifTags.TAGS.get(tag, str(tag)): value for tag, value in exif.items()}
    tags.update({ExifTags.TAGS.get(tag, str(tag)): value for tag, value in exif.get_ifd(_EXIF_IFD).items()})
    found: dict[str, Any] = {}
    for field in _EXIF_FIELDS:
        value = tags.get(field)
        if value is not None:
            found[field] = _plain(value)
    taken = found.get("DateTimeOriginal") or found.get("DateTime")
    if isinstance(taken, str):
        # An odd format stays as written in DateTime/DateTimeOriginal.
        with contextlib.suppress(ValueError):
            found["taken_at"] = datetime.strptime(taken.strip(), "%Y:%m:%d %H:%M:%S").isoformat()
    gps = exif.get_ifd(_GPS_IFD)
    position = _gps_degrees(gps)
    if position is not None:
        found["gps_lat"], found["gps_lon"] = position
    return found


def _gps_degrees(gps: dict[int, Any]) -> tuple[float, float] | None:
    """Latitude and longitude from an EXIF GPS block (degrees, minutes, seconds and N/S, E/W)."""
    try:
        lat = _dms(gps[2]) * (-1 if str(gps[1]).upper().startswith("S") else 1)
        lon = _dms(gps[4]) * (-1 if str(gps[3]).upper().startswith("W") else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return round(lat, 6), round(lon, 6)


def _dms(value: Any) -> float:
    degrees, minutes, seconds = (float(part) for part in value)
    return degrees + minutes / 60 + seconds / 3600


def _plain(value: Any) -> Any:
    """EXIF values as JSON can store them (strings without NULs, numbers)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value.replace("\x00", "").strip()[:200]
    if isinstance(value, int | float):
        return value
    return str(value)[:200]
