"""sensor_msgs Image / CompressedImage <-> numpy, without cv_bridge.

Why this exists: cv_bridge ships only as a C++-backed ROS package built against
the distro's own OpenCV/numpy; there is no wheel for our pip-installed rclpy,
and PyPI's ``cv-bridge`` is an unrelated, broken imitation. Image conversion is
small enough to do by hand on numpy + OpenCV, which also lets us be strict:
every malformed message raises :class:`ImageConversionError` with a message
naming the offending field, instead of a reshape error deep inside numpy.

Layout rules (sensor_msgs/Image): ``height`` rows of ``step`` bytes each; only
the first ``width * bytes_per_pixel`` bytes of a row are pixels (the rest is
padding); multi-byte samples are big-endian iff ``is_bigendian`` is non-zero.
YUV422 is returned as (H, W, 2) uint8 exactly as packed, like cv_bridge does.

Deliberately torch-free so the ROS nodes can import it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header


class ImageConversionError(ValueError):
    """Raised for any message or array that cannot be converted faithfully."""


@dataclass(frozen=True)
class _Spec:
    dtype: np.dtype  # native-order sample type
    channels: int

    @property
    def bytes_per_pixel(self) -> int:
        return self.dtype.itemsize * self.channels


_U8, _U16, _F32 = np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32)

# OpenCV names Bayer patterns by the 2x2 block starting at pixel (1, 1), not
# (0, 0), so ROS "rggb" is OpenCV "BG". Verified with flat-colour mosaics in
# test/nodes/test_image_conversion.py (test_bayer_*).
_BAYER_CODES = {
    "rggb": cv2.COLOR_BayerBG2BGR,
    "bggr": cv2.COLOR_BayerRG2BGR,
    "gbrg": cv2.COLOR_BayerGR2BGR,
    "grbg": cv2.COLOR_BayerGB2BGR,
}
# ROS "yuv422" is UYVY byte order; "yuv422_yuy2"/"yuyv" are YUYV.
_YUV_CODES = {
    "yuv422": cv2.COLOR_YUV2BGR_UYVY,
    "uyvy": cv2.COLOR_YUV2BGR_UYVY,
    "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2,
    "yuyv": cv2.COLOR_YUV2BGR_YUY2,
}

_SPECS: dict[str, _Spec] = {
    "bgr8": _Spec(_U8, 3),
    "rgb8": _Spec(_U8, 3),
    "bgra8": _Spec(_U8, 4),
    "rgba8": _Spec(_U8, 4),
    "mono8": _Spec(_U8, 1),
    "mono16": _Spec(_U16, 1),
    "8UC1": _Spec(_U8, 1),
    "8UC3": _Spec(_U8, 3),
    "16UC1": _Spec(_U16, 1),
    "32FC1": _Spec(_F32, 1),
    **{f"bayer_{p}8": _Spec(_U8, 1) for p in _BAYER_CODES},
    **{f"bayer_{p}16": _Spec(_U16, 1) for p in _BAYER_CODES},
    **{name: _Spec(_U8, 2) for name in _YUV_CODES},
}

SUPPORTED_ENCODINGS: frozenset[str] = frozenset(_SPECS)

# Conversion to BGR for everything that is not already BGR (bgr8, 8UC3).
_TO_BGR_CODES: dict[str, int] = {
    "rgb8": cv2.COLOR_RGB2BGR,
    "bgra8": cv2.COLOR_BGRA2BGR,
    "rgba8": cv2.COLOR_RGBA2BGR,
    **{enc: cv2.COLOR_GRAY2BGR for enc in ("mono8", "mono16", "8UC1", "16UC1", "32FC1")},
    **{f"bayer_{p}{bits}": code for p, code in _BAYER_CODES.items() for bits in (8, 16)},
    **_YUV_CODES,
}

_DEPTH_SCALINGS = ("minmax", "fixed")
_CODEC_EXT = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png"}


def _spec(encoding: str) -> _Spec:
    """Look up an encoding, rejecting empty/unknown names with the supported list."""
    if not encoding:
        raise ImageConversionError("encoding is empty; expected a sensor_msgs image encoding")
    spec = _SPECS.get(encoding)
    if spec is None:
        supported = ", ".join(sorted(SUPPORTED_ENCODINGS))
        raise ImageConversionError(f"unsupported encoding {encoding!r}; supported: {supported}")
    return spec


def _check_yuv_width(encoding: str, width: int) -> None:
    """YUV422 packs two pixels per 4-byte macropixel, so width must be even."""
    if encoding in _YUV_CODES and width % 2:
        raise ImageConversionError(f"width {width} is odd; encoding {encoding} needs even width")


def _as_bytes(data: object) -> np.ndarray:
    """Flat uint8 view of a message's data (array.array/bytes, or a list)."""
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError):
        pass
    try:
        return np.asarray(data, dtype=np.uint8).reshape(-1)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ImageConversionError(f"data is not a byte sequence: {exc}") from exc


def image_to_array(msg: Image) -> np.ndarray:
    """Native pixels as a fresh, writable array: (H, W) or (H, W, C), native byte order.

    Honours row padding (``step``) and ``is_bigendian``; never aliases ``msg.data``.
    """
    spec = _spec(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"image is empty: height {height}, width {width}")
    row_bytes = width * spec.bytes_per_pixel
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} < width*bytes_per_pixel {row_bytes} for encoding {msg.encoding}"
        )
    _check_yuv_width(msg.encoding, width)
    buf = _as_bytes(msg.data)
    expected = step * height
    if buf.size < expected:
        raise ImageConversionError(
            f"data truncated: expected {expected} bytes (step {step} * height {height}), "
            f"received {buf.size}"
        )
    rows = buf[:expected].reshape(height, step)[:, :row_bytes].copy()
    wire = spec.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    shape = (height, width) if spec.channels == 1 else (height, width, spec.channels)
    return rows.view(wire).reshape(shape).astype(spec.dtype, copy=False)


def _minmax_to_u8(arr: np.ndarray) -> np.ndarray:
    """Stretch the finite range of this frame to 0..255; NaN/inf and flat frames -> 0."""
    values = arr.astype(np.float64)
    finite = np.isfinite(values)
    out = np.zeros(arr.shape, dtype=np.uint8)
    if not finite.any():
        return out
    lo, hi = float(values[finite].min()), float(values[finite].max())
    if hi <= lo:
        return out
    scaled = (values[finite] - lo) * (255.0 / (hi - lo))
    out[finite] = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return out


def _fixed_to_u8(arr: np.ndarray) -> np.ndarray:
    """Full-range mapping that is stable across frames: 16-bit >> 8, float 0..1 clipped."""
    if arr.dtype == _U16:
        return (arr >> 8).astype(np.uint8)
    clean = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(clean, 0.0, 1.0) * 255.0).astype(np.uint8)


def _to_u8(arr: np.ndarray, depth_scaling: str) -> np.ndarray:
    if arr.dtype == _U8:
        return arr
    return _minmax_to_u8(arr) if depth_scaling == "minmax" else _fixed_to_u8(arr)


def image_to_bgr8(msg: Image, depth_scaling: str = "minmax") -> np.ndarray:
    """(H, W, 3) uint8 BGR for the trackers, whatever the encoding.

    ``depth_scaling`` maps 16-bit/float data to 8 bit: "minmax" stretches each
    frame's finite range (best contrast for thermal/night imagery), "fixed" uses
    the full type range (16-bit >> 8, float 0..1 clipped) so brightness is
    comparable between frames. Bayer is demosaiced before scaling.
    """
    if depth_scaling not in _DEPTH_SCALINGS:
        raise ImageConversionError(
            f"depth_scaling {depth_scaling!r} is not one of {', '.join(_DEPTH_SCALINGS)}"
        )
    arr = image_to_array(msg)
    code = _TO_BGR_CODES.get(msg.encoding)
    if code is None:  # bgr8 / 8UC3: already BGR
        return arr
    if msg.encoding.startswith("bayer_"):  # demosaic at full depth, then scale
        return _to_u8(cv2.cvtColor(arr, code), depth_scaling)
    return cv2.cvtColor(_to_u8(arr, depth_scaling), code)


def _check_array(arr: np.ndarray, encoding: str, spec: _Spec) -> np.ndarray:
    """Validate shape/dtype for ``encoding``; return contiguous little-endian data."""
    if not isinstance(arr, np.ndarray):
        raise ImageConversionError(f"expected a numpy array, got {type(arr).__name__}")
    if arr.dtype.kind != spec.dtype.kind or arr.dtype.itemsize != spec.dtype.itemsize:
        raise ImageConversionError(
            f"dtype {arr.dtype} does not match {spec.dtype} required by encoding {encoding}"
        )
    ok_shape = arr.ndim == 3 and arr.shape[2] == spec.channels
    if spec.channels == 1:
        ok_shape = ok_shape or arr.ndim == 2
    if not ok_shape:
        want = "(H, W)" if spec.channels == 1 else f"(H, W, {spec.channels})"
        raise ImageConversionError(
            f"shape {arr.shape} does not match {want} channels required by encoding {encoding}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageConversionError(f"image is empty: height {arr.shape[0]}, width {arr.shape[1]}")
    _check_yuv_width(encoding, arr.shape[1])
    return np.ascontiguousarray(arr, dtype=spec.dtype.newbyteorder("<"))


def array_to_image(arr: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """Dense little-endian message (step = width * bytes_per_pixel, is_bigendian = 0).

    ``data`` is set from ``tobytes()``: rclpy copies bytes fast but iterates an ndarray.
    """
    spec = _spec(encoding)
    data = _check_array(arr, encoding, spec)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(data.shape[0]), int(data.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * spec.bytes_per_pixel
    msg.data = data.tobytes()
    return msg


def compressed_to_bgr8(msg: CompressedImage) -> np.ndarray:
    """Decode JPEG/PNG to (H, W, 3) uint8 BGR.

    The codec is sniffed from the bytes, so any ``format`` string works
    ("jpeg", "rgb8; jpeg compressed bgr8", ...). No channel swap is needed for
    rgb sources: image_transport encodes colour as BGR and imdecode returns BGR.
    EXIF orientation is ignored so the pixel grid matches the camera's.
    """
    fmt = str(msg.format)
    if "compresseddepth" in fmt.lower():
        raise ImageConversionError(f"format {fmt!r}: compressedDepth images are not supported")
    buf = _as_bytes(msg.data)
    if buf.size == 0:
        raise ImageConversionError(f"CompressedImage data is empty (format {fmt!r})")
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:
        img = None
    if img is None:
        raise ImageConversionError(
            f"could not decode {buf.size} bytes of CompressedImage data (format {fmt!r})"
        )
    return img


def bgr8_to_compressed(
    arr: np.ndarray, fmt: str = "jpeg", quality: int = 90, header: Header | None = None
) -> CompressedImage:
    """Encode (H, W, 3) uint8 BGR as JPEG or PNG with image_transport's format string.

    ``quality`` (0..100) applies to JPEG only; PNG is lossless.
    """
    codec = fmt.strip().lower()
    ext = _CODEC_EXT.get(codec)
    if ext is None:
        raise ImageConversionError(f"unsupported compression format {fmt!r}; use jpeg or png")
    if not 0 <= int(quality) <= 100:
        raise ImageConversionError(f"quality {quality} is outside 0..100")
    data = _check_array(arr, "bgr8", _SPECS["bgr8"])
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, data, params)
    if not ok:
        raise ImageConversionError(f"OpenCV failed to encode a {data.shape} image as {codec}")
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    name = "jpeg" if ext == ".jpg" else "png"
    msg.format = f"bgr8; {name} compressed bgr8"
    msg.data = buf.tobytes()
    return msg
