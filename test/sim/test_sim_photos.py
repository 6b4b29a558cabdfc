"""The offline photo sources: every listed photo loads without network as BGR uint8."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from mlkd_tracker.sim import photos


def test_available_photos_sorted_distinct_and_plentiful():
    names = photos.available_photos()
    assert names == sorted(names) == photos.available_photos()
    assert len(names) >= 15
    assert "cat" not in names  # alias of chelsea: a split must not see one photo twice


def test_every_photo_loads_offline_as_bgr_uint8(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a photo load tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    photos.load_photo.cache_clear()
    for name in photos.available_photos():
        img = photos.load_photo(name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
        assert min(img.shape[:2]) >= 150, name
        assert not img.flags.writeable  # shared cache entry
        assert img.std() > 5, name  # real content, not a blank


def test_colour_photo_is_bgr():
    # the astronaut's suit is orange: red channel (index 2 in BGR) dominates blue there
    img = photos.load_photo("astronaut").astype(int)
    suit = img[300:400, 150:250]
    assert suit[..., 2].mean() > suit[..., 0].mean() + 30


def test_gray_photo_has_three_equal_channels():
    img = photos.load_photo("camera")
    assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2])


def test_unknown_photo_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown photo 'nope'"):
        photos.load_photo("nope")
