"""Specification tests for mlkd_tracker.nodes.image_conversion (cv_bridge replacement).

Messages are mostly built by hand from raw bytes so that the decoder is checked
against the sensor_msgs/Image layout rules, not against its own encoder.
"""

from __future__ import annotations

import ast
import inspect

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from mlkd_tracker.nodes import image_conversion as ic
from mlkd_tracker.nodes.image_conversion import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    array_to_image,
    bgr8_to_compressed,
    compressed_to_bgr8,
    image_to_array,
    image_to_bgr8,
)

# encoding -> (dtype, channels); written out independently of the module's table.
LAYOUT = {
    "bgr8": (np.uint8, 3), "rgb8": (np.uint8, 3), "bgra8": (np.uint8, 4), "rgba8": (np.uint8, 4),
    "mono8": (np.uint8, 1), "8UC1": (np.uint8, 1), "8UC3": (np.uint8, 3),
    "mono16": (np.uint16, 1), "16UC1": (np.uint16, 1), "32FC1": (np.float32, 1),
    "bayer_rggb8": (np.uint8, 1), "bayer_bggr8": (np.uint8, 1),
    "bayer_gbrg8": (np.uint8, 1), "bayer_grbg8": (np.uint8, 1),
    "bayer_rggb16": (np.uint16, 1), "bayer_bggr16": (np.uint16, 1),
    "bayer_gbrg16": (np.uint16, 1), "bayer_grbg16": (np.uint16, 1),
    "yuv422": (np.uint8, 2), "yuv422_yuy2": (np.uint8, 2), "yuyv": (np.uint8, 2),
}
ENCODINGS = sorted(LAYOUT)
YUV = {"yuv422", "yuv422_yuy2", "yuyv"}
RED, GREEN, BLUE = (0, 0, 255), (0, 255, 0), (255, 0, 0)


# ------------------------------------------------------------------ helpers
def shape_for(encoding: str, h: int, w: int) -> tuple[int, ...]:
    channels = LAYOUT[encoding][1]
    return (h, w) if channels == 1 else (h, w, channels)


def random_pixels(rng: np.random.Generator, encoding: str, h: int, w: int) -> np.ndarray:
    dtype = np.dtype(LAYOUT[encoding][0])
    if dtype.kind == "f":
        return rng.normal(0.0, 100.0, shape_for(encoding, h, w)).astype(np.float32)
    shape = shape_for(encoding, h, w)
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def hand_built(arr: np.ndarray, encoding: str, padding: int = 0, bigendian: bool = False,
               pad_byte: int = 0xAB) -> Image:
    """Image with `padding` garbage bytes after every row, samples in the chosen byte order."""
    h, w = arr.shape[:2]
    wire = arr.astype(arr.dtype.newbyteorder(">" if bigendian else "<"))
    row_bytes = wire.reshape(h, -1).view(np.uint8).reshape(h, -1)
    pad = np.full((h, padding), pad_byte, dtype=np.uint8)
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=int(bigendian))
    msg.step = row_bytes.shape[1] + padding
    msg.data = np.hstack([row_bytes, pad]).tobytes()
    return msg


def flat(colour: tuple[int, ...], h: int = 4, w: int = 6, dtype=np.uint8) -> np.ndarray:
    return np.broadcast_to(np.array(colour, dtype=dtype), (h, w, len(colour))).copy()


def mosaic(pattern: str, bgr: tuple[int, int, int], h: int = 10, w: int = 12, scale: int = 1,
           dtype=np.uint8) -> np.ndarray:
    """Bayer mosaic of a flat BGR scene; `pattern` (e.g. "rggb") is the top-left 2x2, row-major."""
    value = {"b": bgr[0], "g": bgr[1], "r": bgr[2]}
    out = np.zeros((h, w), dtype=dtype)
    for i, colour in enumerate(pattern):
        out[i // 2::2, i % 2::2] = value[colour] * scale
    return out


def bt601_yuv(bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    """Video-range BT.601 Y, U(Cb), V(Cr) for an 8-bit BGR colour."""
    b, g, r = (c / 255.0 for c in bgr)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return round(y), round(u), round(v)


def yuv_message(encoding: str, bgr: tuple[int, int, int], h: int = 3, w: int = 8) -> Image:
    y, u, v = bt601_yuv(bgr)
    macro = [u, y, v, y] if encoding == "yuv422" else [y, u, y, v]  # UYVY vs YUYV
    packed = np.tile(np.array(macro, np.uint8), (h, w // 2)).reshape(h, w, 2)
    return hand_built(packed, encoding)


def one_pixel(encoding: str, values) -> Image:
    dtype, channels = LAYOUT[encoding]
    shape = shape_for(encoding, 1, len(values) // channels)
    return array_to_image(np.array(values, dtype=dtype).reshape(shape), encoding)


# ------------------------------------------------------------------ module contract
def test_supported_encodings_cover_the_required_ros_names():
    assert set(LAYOUT) <= SUPPORTED_ENCODINGS
    assert isinstance(SUPPORTED_ENCODINGS, frozenset)


def test_module_does_not_import_torch():
    tree = ast.parse(inspect.getsource(ic))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "torch" not in imported


def test_image_conversion_error_is_a_value_error():
    assert issubclass(ImageConversionError, ValueError)


# ------------------------------------------------------------------ raw round trips
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("h, w", [(1, 1), (5, 7), (3, 13), (9, 2)])
def test_round_trip_array_image_array_is_exact(encoding, h, w):
    if encoding in YUV:
        w += w % 2
    arr = random_pixels(np.random.default_rng(h * 100 + w), encoding, h, w)
    msg = array_to_image(arr, encoding)
    assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (h, w, encoding, 0)
    assert msg.step == w * arr.dtype.itemsize * LAYOUT[encoding][1]
    assert len(msg.data) == msg.step * h
    out = image_to_array(msg)
    assert out.dtype == arr.dtype and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


def test_array_to_image_keeps_header_and_writes_little_endian_bytes():
    header = Header(frame_id="cam")
    header.stamp.sec = 42
    arr = np.array([[0x0102, 0x0304]], dtype=np.uint16)
    msg = array_to_image(arr, "mono16", header=header)
    assert msg.header.frame_id == "cam" and msg.header.stamp.sec == 42
    assert bytes(msg.data) == b"\x02\x01\x04\x03"


def test_array_to_image_accepts_single_channel_with_trailing_axis_and_big_endian_dtype():
    arr = np.array([[[1], [2], [3]]], dtype=">u2")
    np.testing.assert_array_equal(image_to_array(array_to_image(arr, "16UC1")), [[1, 2, 3]])


def test_array_to_image_accepts_non_contiguous_input():
    arr = np.arange(5 * 8 * 3, dtype=np.uint8).reshape(5, 8, 3)[:, ::2]
    np.testing.assert_array_equal(image_to_array(array_to_image(arr, "bgr8")), arr)


def test_image_to_array_returns_a_writable_copy_not_aliasing_msg_data():
    msg = array_to_image(np.zeros((2, 3), np.uint8), "mono8")
    out = image_to_array(msg)
    out[:] = 7
    assert set(bytes(msg.data)) == {0}


# ------------------------------------------------------------------ step padding / byte order
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("padding", [3, 64])
def test_padded_step_ignores_garbage_padding(encoding, padding):
    w = 8 if encoding in YUV else 7
    arr = random_pixels(np.random.default_rng(padding), encoding, 5, w)
    msg = hand_built(arr, encoding, padding=padding, pad_byte=0xFF)
    np.testing.assert_array_equal(image_to_array(msg), arr)


def test_data_longer_than_step_times_height_is_ignored():
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    msg = hand_built(arr, "mono8")
    msg.data = bytes(msg.data) + b"\xff" * 5
    np.testing.assert_array_equal(image_to_array(msg), arr)


@pytest.mark.parametrize("encoding, values", [
    ("mono16", [0, 1, 0x0102, 0xFFFE, 65535]),
    ("16UC1", [0x1234, 0xABCD, 7, 256, 1]),
    ("bayer_rggb16", [0x00FF, 0xFF00, 3, 4, 5]),
    ("32FC1", [0.0, -1.5, 3.25e7, 1e-3, np.inf]),
])
@pytest.mark.parametrize("padding", [0, 3])
def test_big_endian_messages_decode_to_native_values(encoding, values, padding):
    dtype = LAYOUT[encoding][0]
    expected = np.array([values, values[::-1]], dtype=dtype)
    big = np.array([values, values[::-1]], dtype=np.dtype(dtype).newbyteorder(">"))
    step = 5 * big.itemsize + padding
    msg = Image(height=2, width=5, encoding=encoding, is_bigendian=1, step=step)
    msg.data = b"".join(row.tobytes() + b"\x99" * padding for row in big)
    out = image_to_array(msg)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, expected)


def test_is_bigendian_is_irrelevant_for_8_bit_encodings():
    arr = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(image_to_array(hand_built(arr, "rgb8", bigendian=True)), arr)


# ------------------------------------------------------------------ image_to_bgr8 colours
@pytest.mark.parametrize("encoding, pixel", [
    ("bgr8", RED), ("8UC3", RED), ("rgb8", (255, 0, 0)),
    ("bgra8", (*RED, 17)), ("rgba8", (255, 0, 0, 200)),
])
def test_image_to_bgr8_colour_encodings_give_red_as_bgr(encoding, pixel):
    out = image_to_bgr8(array_to_image(flat(pixel, 3, 5), encoding))
    assert out.shape == (3, 5, 3) and out.dtype == np.uint8
    assert (out == RED).all()


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_image_to_bgr8_mono8_gives_equal_gray_channels(encoding):
    arr = np.array([[0, 77, 255]], np.uint8)
    out = image_to_bgr8(array_to_image(arr, encoding))
    np.testing.assert_array_equal(out, np.repeat(arr[..., None], 3, axis=2))


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_image_to_bgr8_16bit_minmax_stretches_frame_range(encoding):
    out = image_to_bgr8(one_pixel(encoding, [1000, 1100, 2000]), depth_scaling="minmax")
    np.testing.assert_array_equal(out[0, :, 0], [0, 26, 255])  # 100/1000*255 = 25.5 -> 26
    assert out.shape == (1, 3, 3) and (out == out[..., :1]).all()


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_image_to_bgr8_16bit_fixed_keeps_high_byte(encoding):
    out = image_to_bgr8(one_pixel(encoding, [0x00FF, 0x1234, 0xFFFF]), depth_scaling="fixed")
    np.testing.assert_array_equal(out[0, :, 2], [0x00, 0x12, 0xFF])


def test_image_to_bgr8_float_minmax_ignores_nan_and_inf_and_maps_them_to_zero():
    msg = one_pixel("32FC1", [np.nan, 2.0, 3.0, 6.0, np.inf, -np.inf])
    out = image_to_bgr8(msg, depth_scaling="minmax")
    np.testing.assert_array_equal(out[0, :, 1], [0, 0, 64, 255, 0, 0])  # 1/4*255 = 63.75


def test_image_to_bgr8_float_fixed_clips_zero_to_one():
    msg = one_pixel("32FC1", [-1.0, 0.0, 0.5, 1.0, 7.0, np.nan, np.inf])
    out = image_to_bgr8(msg, "fixed")
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 128, 255, 255, 0, 255])


@pytest.mark.parametrize("values", [[5.0, 5.0], [np.nan, np.nan]])
def test_image_to_bgr8_minmax_flat_or_all_nan_frame_is_black(values):
    assert not image_to_bgr8(one_pixel("32FC1", values)).any()


def test_image_to_bgr8_rejects_unknown_depth_scaling():
    with pytest.raises(ImageConversionError, match="depth_scaling 'linear'"):
        image_to_bgr8(one_pixel("mono16", [1, 2]), depth_scaling="linear")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_image_to_bgr8_always_gives_hxwx3_uint8(encoding):
    arr = random_pixels(np.random.default_rng(0), encoding, 3, 6)
    out = image_to_bgr8(array_to_image(arr, encoding))
    assert out.shape == (3, 6, 3) and out.dtype == np.uint8 and out.flags.writeable


# ------------------------------------------------------------------ bayer
BAYER_PATTERNS = ["rggb", "bggr", "gbrg", "grbg"]
BAYER_COLOURS = [RED, GREEN, BLUE, (40, 120, 200)]


@pytest.mark.parametrize("pattern", BAYER_PATTERNS)
@pytest.mark.parametrize("colour", BAYER_COLOURS)
def test_bayer8_flat_scene_demosaics_to_its_colour(pattern, colour):
    msg = hand_built(mosaic(pattern, colour), f"bayer_{pattern}8")
    out = image_to_bgr8(msg)
    centre = out[3:7, 3:9].reshape(-1, 3).astype(int)
    assert np.abs(centre - colour).max() <= 2, (pattern, colour, centre[0])


@pytest.mark.parametrize("pattern", BAYER_PATTERNS)
def test_bayer16_flat_scene_demosaics_to_its_colour_with_fixed_scaling(pattern):
    raw = mosaic(pattern, (40, 120, 200), scale=256, dtype=np.uint16)
    msg = hand_built(raw, f"bayer_{pattern}16")
    centre = image_to_bgr8(msg, depth_scaling="fixed")[5, 6].astype(int)
    assert np.abs(centre - (40, 120, 200)).max() <= 2


def test_bayer_rggb_uses_opencv_bayer_bg_code():
    """OpenCV names the pattern from pixel (1, 1): ROS rggb == OpenCV BayerBG."""
    raw = np.random.default_rng(3).integers(0, 256, (6, 8), dtype=np.uint8)
    out = image_to_bgr8(array_to_image(raw, "bayer_rggb8"))
    np.testing.assert_array_equal(out, cv2.cvtColor(raw, cv2.COLOR_BayerBG2BGR))


def test_bayer_odd_sized_image_is_demosaiced():
    out = image_to_bgr8(hand_built(mosaic("rggb", GREEN, 7, 13), "bayer_rggb8"))
    assert out.shape == (7, 13, 3)


# ------------------------------------------------------------------ yuv422
@pytest.mark.parametrize("encoding", sorted(YUV))
@pytest.mark.parametrize("colour", [RED, GREEN, BLUE, (128, 128, 128), (30, 120, 200)])
def test_yuv422_flat_colour_converts_to_bgr(encoding, colour):
    out = image_to_bgr8(yuv_message(encoding, colour))
    assert out.shape == (3, 8, 3)
    assert np.abs(out.reshape(-1, 3).astype(int) - colour).max() <= 3, out[0, 0]


def test_yuv422_is_uyvy_and_yuy2_is_yuyv():
    # Same bytes read in the other order must give a visibly different colour.
    msg = yuv_message("yuv422", RED)
    msg.encoding = "yuyv"
    assert np.abs(image_to_bgr8(msg)[0, 0].astype(int) - RED).max() > 50


def test_yuv422_raw_array_is_packed_two_channels():
    msg = yuv_message("yuyv", BLUE, h=2, w=4)
    assert image_to_array(msg).shape == (2, 4, 2)


# ------------------------------------------------------------------ compressed
def gradient_bgr(h: int = 24, w: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 7, yy * 9, (xx + yy) * 4], axis=-1).astype(np.uint8)


def test_png_round_trip_is_exact():
    arr = np.random.default_rng(1).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    msg = bgr8_to_compressed(arr, fmt="png")
    assert msg.format == "bgr8; png compressed bgr8"
    np.testing.assert_array_equal(compressed_to_bgr8(msg), arr)


def test_jpeg_round_trip_is_close():
    arr = gradient_bgr()
    header = Header(frame_id="cam")
    msg = bgr8_to_compressed(arr, fmt="jpeg", quality=95, header=header)
    assert msg.format == "bgr8; jpeg compressed bgr8" and msg.header.frame_id == "cam"
    assert bytes(msg.data[:2]) == b"\xff\xd8"
    out = compressed_to_bgr8(msg)
    assert out.shape == arr.shape and np.abs(out.astype(int) - arr).mean() < 3


def test_jpeg_quality_controls_size():
    arr = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    low, high = bgr8_to_compressed(arr, quality=20), bgr8_to_compressed(arr, quality=95)
    assert len(low.data) < len(high.data)


@pytest.mark.parametrize("codec", ["jpeg", "png"])
@pytest.mark.parametrize("fmt", ["{c}", "bgr8; {c} compressed bgr8", "rgb8; {c} compressed",
                                 "rgb8; {c} compressed bgr8", "mono8; {c} compressed mono8", ""])
def test_compressed_format_string_variants_decode_red_as_bgr(codec, fmt):
    msg = bgr8_to_compressed(flat(RED, 16, 16), fmt=codec, quality=100)
    msg.format = fmt.format(c=codec)
    out = compressed_to_bgr8(msg)
    assert out.shape == (16, 16, 3)
    assert np.abs(out[8, 8].astype(int) - RED).max() <= 3


def test_compressed_gray_png_decodes_to_three_equal_channels():
    ok, buf = cv2.imencode(".png", np.array([[0, 100, 200]], np.uint8))
    msg = CompressedImage(format="mono8; png compressed mono8", data=buf.tobytes())
    out = compressed_to_bgr8(msg)
    np.testing.assert_array_equal(out[0], [[0] * 3, [100] * 3, [200] * 3])


@pytest.mark.parametrize("data, fmt, match", [
    (b"", "jpeg", "data is empty"),
    (b"not an image at all", "jpeg", r"could not decode 19 bytes .*'jpeg'"),
    (b"\xff\xd8\xff\xe0garbage", "bgr8; jpeg compressed bgr8", "could not decode"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "png", "could not decode"),
    (b"\x00" * 12, "16UC1; compressedDepth png", "compressedDepth"),
])
def test_compressed_to_bgr8_rejects_undecodable_data(data, fmt, match):
    with pytest.raises(ImageConversionError, match=match):
        compressed_to_bgr8(CompressedImage(format=fmt, data=data))


@pytest.mark.parametrize("kwargs, match", [
    ({"fmt": "bmp"}, "unsupported compression format 'bmp'"),
    ({"quality": 101}, "quality 101"),
    ({"quality": -1}, "quality -1"),
])
def test_bgr8_to_compressed_rejects_bad_options(kwargs, match):
    with pytest.raises(ImageConversionError, match=match):
        bgr8_to_compressed(flat(RED), **kwargs)


@pytest.mark.parametrize("arr, match", [
    (np.zeros((4, 4), np.uint8), r"shape \(4, 4\)"),
    (np.zeros((4, 4, 4), np.uint8), r"shape \(4, 4, 4\)"),
    (np.zeros((4, 4, 3), np.float32), "dtype float32"),
])
def test_bgr8_to_compressed_rejects_non_bgr8_arrays(arr, match):
    with pytest.raises(ImageConversionError, match=match):
        bgr8_to_compressed(arr)


# ------------------------------------------------------------------ bad Image input
def bad_image(**fields) -> Image:
    base = dict(height=2, width=3, encoding="mono8", step=3, data=b"\x00" * 6)
    base.update(fields)
    return Image(**base)


@pytest.mark.parametrize("msg, match", [
    (bad_image(encoding=""), "encoding is empty"),
    (bad_image(encoding="bgr9"), "unsupported encoding 'bgr9'"),
    (bad_image(encoding="MONO8"), "unsupported encoding 'MONO8'"),
    (bad_image(height=0), "empty: height 0, width 3"),
    (bad_image(width=0, step=0), "empty: height 2, width 0"),
    (Image(height=1, width=640, encoding="bgr8", step=1919, data=b"\x00" * 1920),
     r"step 1919 < width\*bytes_per_pixel 1920 for encoding bgr8"),
    (bad_image(encoding="32FC1", step=11, data=b"\x00" * 24),
     r"step 11 < width\*bytes_per_pixel 12"),
    (bad_image(data=b"\x00" * 5),
     r"truncated: expected 6 bytes \(step 3 \* height 2\), received 5"),
    (bad_image(step=10, data=b"\x00" * 19), "expected 20 bytes .* received 19"),
    (bad_image(data=b""), "received 0"),
    (bad_image(encoding="yuv422", width=7, step=14, data=b"\x00" * 28), "width 7 is odd.*yuv422"),
    (bad_image(encoding="yuyv", width=3, step=6, data=b"\x00" * 12), "width 3 is odd.*yuyv"),
])
def test_image_to_array_rejects_malformed_messages(msg, match):
    with pytest.raises(ImageConversionError, match=match):
        image_to_array(msg)
    with pytest.raises(ImageConversionError, match=match):
        image_to_bgr8(msg)


@pytest.mark.parametrize("arr, encoding, match", [
    (np.zeros((2, 3), np.uint8), "", "encoding is empty"),
    (np.zeros((2, 3), np.uint8), "mono12", "unsupported encoding 'mono12'"),
    (np.zeros((2, 3), np.uint16), "mono8", "dtype uint16 does not match uint8 .* mono8"),
    (np.zeros((2, 3), np.int16), "mono16", "dtype int16 does not match uint16"),
    (np.zeros((2, 3), np.float64), "32FC1", "dtype float64 does not match float32"),
    (np.zeros((2, 3), np.uint8), "bgr8", r"shape \(2, 3\) does not match \(H, W, 3\)"),
    (np.zeros((2, 3, 3), np.uint8), "bgra8", r"shape \(2, 3, 3\) does not match \(H, W, 4\)"),
    (np.zeros((2, 3, 3), np.uint8), "mono8", r"shape \(2, 3, 3\) does not match \(H, W\)"),
    (np.zeros((2, 3, 2, 1), np.uint8), "yuv422", r"shape \(2, 3, 2, 1\)"),
    (np.zeros((0, 3), np.uint8), "mono8", "empty: height 0"),
    (np.zeros((2, 7, 2), np.uint8), "yuv422_yuy2", "width 7 is odd"),
    ([[1, 2]], "mono8", "expected a numpy array, got list"),
])
def test_array_to_image_rejects_arrays_not_matching_encoding(arr, encoding, match):
    with pytest.raises(ImageConversionError, match=match):
        array_to_image(arr, encoding)


# ------------------------------------------------------------------ property-based
@st.composite
def hand_built_messages(draw):
    encoding = draw(st.sampled_from(ENCODINGS))
    h = draw(st.integers(1, 6))
    w = draw(st.integers(1, 9)) * (2 if encoding in YUV else 1)
    dtype = np.dtype(LAYOUT[encoding][0])
    raw = draw(st.binary(min_size=h * w * dtype.itemsize * LAYOUT[encoding][1],
                         max_size=h * w * dtype.itemsize * LAYOUT[encoding][1]))
    expected = np.frombuffer(raw, dtype=dtype).reshape(shape_for(encoding, h, w))
    padding = draw(st.integers(0, 9))
    bigendian = draw(st.booleans())
    return expected, hand_built(expected, encoding, padding, bigendian, draw(st.integers(0, 255)))


@settings(max_examples=150, deadline=None)
@given(hand_built_messages())
def test_property_hand_built_messages_round_trip_exactly(case):
    expected, msg = case
    out = image_to_array(msg)
    assert out.dtype == expected.dtype and out.shape == expected.shape
    assert out.tobytes() == expected.tobytes()  # bytewise: random float bits may be NaN
    assert image_to_array(array_to_image(out, msg.encoding)).tobytes() == expected.tobytes()


U32 = st.integers(0, 2**32 - 1)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    encoding=st.sampled_from(ENCODINGS) | st.text(max_size=12),
    height=st.integers(0, 8) | U32, width=st.integers(0, 8) | U32, step=st.integers(0, 40) | U32,
    is_bigendian=st.integers(0, 255), data=st.binary(max_size=300),
    depth_scaling=st.sampled_from(["minmax", "fixed"]),
)
def test_property_arbitrary_image_fields_raise_only_image_conversion_error(
        encoding, height, width, step, is_bigendian, data, depth_scaling):
    msg = Image(height=height, width=width, encoding=encoding, step=step,
                is_bigendian=is_bigendian, data=data)
    try:
        out = image_to_bgr8(msg, depth_scaling)
    except ImageConversionError:
        return
    assert out.shape == (height, width, 3) and out.dtype == np.uint8


@settings(max_examples=150, deadline=None)
@given(fmt=st.text(max_size=30), data=st.binary(max_size=200) | st.just(b"\x89PNG\r\n\x1a\n"))
def test_property_arbitrary_compressed_bytes_raise_only_image_conversion_error(fmt, data):
    try:
        out = compressed_to_bgr8(CompressedImage(format=fmt, data=data))
    except ImageConversionError:
        return
    assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8
