"""Renderings: the original's 8-bit mapping (To8bitMonochromeOrRGB) worked out by hand, and
the GIF/BMP/JPEG/PNG containers (checked side by side against the original's files: the
pixels of all three formats and the BMP and JPEG bytes were identical on CT, MR, CR, US,
palette, multi-frame and YBR images)."""
from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from codecimages import fresh, kinds, make
from PIL import Image

from dgate import codec

KINDS = kinds()


def picture(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    return np.array(image.convert("L") if image.mode == "P" else image)


def ct(values, **elements):
    ds = make(np.array([values], dtype=np.uint16), 12, modality="CT")
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    for key, value in elements.items():
        setattr(ds, key, value)
    return ds


def test_window_and_level_take_the_intercept_off_the_level():
    ds = ct([[1064, 864, 1264, 1000, 2000]])
    # level 40 HU + 1024 = 1064 raw; 255 * (v - 1064 + 200) / 400, truncated, clipped
    assert list(picture(codec.render(ds, "gif", level=40, window=400))[0]) == [127, 0, 255, 86, 255]


def test_window_from_the_object():
    ds = ct([[1064, 864, 1264, 1000, 2000]], WindowCenter="40", WindowWidth="400")
    assert list(picture(codec.render(ds, "gif"))[0]) == [127, 0, 255, 86, 255]


def test_without_window_values_are_divided_by_stored_range():
    # CT without window: v + intercept + 1024 = v; 12 bits stored: clip to 4095, divide by 16
    assert list(picture(codec.render(ct([[0, 1600, 3200, 4000]]), "gif"))[0]) == [0, 100, 200, 250]
    # maximum below 1024: divided by round(max / 256) = 4 instead
    assert list(picture(codec.render(ct([[0, 500, 1000]]), "gif"))[0]) == [0, 125, 250]


def test_monochrome1_is_inverted_except_in_8_bit_gif():
    ds = make(np.array([[[0, 100, 255]]], dtype=np.uint8), 8, "MONOCHROME1")
    assert list(picture(codec.render(ds, "gif"))[0]) == [0, 100, 255]
    assert [int(v) for v in picture(codec.render(ds, "jpg"))[0, :, 0]] == pytest.approx([255, 155, 0], abs=3)
    wide = make(np.array([[[0, 2047, 1000, 1500]]], dtype=np.uint16), 11, "MONOCHROME1")
    assert list(picture(codec.render(wide, "gif"))[0]) == [255, 0, 255 - 1000 // 8, 255 - 1500 // 8]


def test_colour_becomes_grey_in_gif_and_stays_colour_in_bmp():
    rgb = fresh(KINDS["rgb8"])
    arr = codec.decode_frames(rgb)[0].astype(int)
    assert np.array_equal(picture(codec.render(rgb, "gif")), arr.sum(axis=-1) // 3)
    bmp = picture(codec.render(rgb, "bmp"))
    assert np.array_equal(bmp, arr[:, :40])                   # BMP width cut to a multiple of 4


def test_size_downsizes_by_keeping_every_nth_pixel():
    ds = make((np.arange(512 * 256, dtype=np.uint16).reshape(1, 512, 256) % 256).astype(np.uint8), 8)
    gif = picture(codec.render(ds, "gif", size=128))
    assert gif.shape == (128, 64)
    assert np.array_equal(gif, codec.decode_frames(ds)[0][::4, ::4])
    assert picture(codec.render(ds, "gif", size=0)).shape == (512, 256)


def test_bmp_header_as_the_original_writes_it():
    data = codec.render(fresh(KINDS["mono8"]), "bmp")               # 37 wide → 36
    fields = struct.unpack_from("<2sIHHIIiiHHIIiiII", data)
    assert fields == (b"BM", 54 + 36 * 23 * 3, 0, 0, 54, 40, 36, 23, 1, 24, 0, 36 * 23 * 3, 0x0ECE, 0x0ECE, 0, 0)


def test_frames_and_animated_gif():
    ds = fresh(KINDS["frames"])
    frames = codec.decode_frames(ds)
    assert np.array_equal(picture(codec.render(ds, "gif", frame=2)), frames[2])
    assert np.array_equal(picture(codec.render(ds, "gif", frame=99)), frames[0])     # out of range: first
    animated = Image.open(io.BytesIO(codec.render(ds, "gif", frame=10005)))
    assert animated.n_frames == 3 and animated.info["duration"] == 200              # 5 frames a second
    for index in range(3):
        animated.seek(index)
        assert np.array_equal(np.array(animated.convert("L")), frames[index])


def test_jpeg_and_png():
    ds = fresh(KINDS["mono8"])
    jpeg = Image.open(io.BytesIO(codec.render(ds, "jpg")))
    assert jpeg.format == "JPEG" and jpeg.mode == "RGB" and jpeg.size == (37, 23)
    png = Image.open(io.BytesIO(codec.render(ds, "png")))
    assert png.format == "PNG" and png.mode == "L"
    assert np.array_equal(np.array(png), codec.decode_frames(ds)[0])


def test_compressed_and_nki_objects_render_like_plain_ones():
    plain = codec.render(fresh(KINDS["mono12"]), "gif")
    for code in ("j1", "n4", "jk"):
        assert codec.render(codec.recompress(fresh(KINDS["mono12"]), code), "gif") == plain
    assert codec.render(codec.Encoded.from_dataset(codec.recompress(fresh(KINDS["mono12"]), "n2")), "gif") == plain


def test_render_errors():
    with pytest.raises(codec.CodecError, match="format"):
        codec.render(fresh(KINDS["mono8"]), "tiff")
    from pydicom.dataset import Dataset
    with pytest.raises(codec.CodecError, match="no pixel data"):
        codec.render(Dataset(), "gif")
