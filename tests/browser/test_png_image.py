"""The screenshot check's PNG decoder: sizes, unfiltering and the blank-image measure."""

from __future__ import annotations

import struct
import zlib

import pytest

from tests.browser.png_image import decode_png


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, filtered_rows: list[bytes]) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, not interlaced
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(b"".join(filtered_rows))),
            _chunk(b"IEND", b""),
        ]
    )


def test_a_blank_image_has_no_variance() -> None:
    row = b"\x00" + bytes([200, 200, 200] * 4)  # filter 0 (none)
    image = decode_png(_png(4, 3, [row] * 3))
    assert (image.width, image.height, image.channels) == (4, 3, 3)
    assert image.luminance_variance() == 0


def test_sub_and_up_filters_are_undone() -> None:
    # Row 1, "Sub": black then +255 -> white. Row 2, "Up": the same as row 1.
    sub_row = b"\x01" + bytes([0, 0, 0, 255, 255, 255])
    up_row = b"\x02" + bytes(6)
    image = decode_png(_png(2, 2, [sub_row, up_row]))
    assert image.rows == [bytes([0, 0, 0, 255, 255, 255])] * 2
    assert image.luminance_variance() == pytest.approx(127.5**2)


def test_a_corrupt_chunk_is_rejected() -> None:
    data = bytearray(_png(1, 1, [b"\x00\x01\x02\x03"]))
    data[20] ^= 0xFF  # inside IHDR
    with pytest.raises(ValueError, match="corrupt"):
        decode_png(bytes(data))
