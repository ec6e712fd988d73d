"""Just enough PNG decoding to check a browser screenshot (no imaging dependency): the header's size and
the pixels of an 8-bit, non-interlaced greyscale / RGB / RGBA image (what Chromium writes)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS_BY_COLOR_TYPE = {0: 1, 2: 3, 4: 2, 6: 4}


@dataclass(frozen=True)
class DecodedPng:
    width: int
    height: int
    channels: int
    rows: list[bytes]  # unfiltered scanlines, ``width * channels`` bytes each

    def luminance_variance(self) -> float:
        """Variance of the per-pixel mean of the colour channels (alpha ignored): 0 for a blank image."""
        colour_channels = 3 if self.channels >= 3 else 1
        total = total_squares = 0.0
        for row in self.rows:
            for start in range(0, len(row), self.channels):
                value = sum(row[start : start + colour_channels]) / colour_channels
                total += value
                total_squares += value * value
        count = self.width * self.height
        mean = total / count
        return total_squares / count - mean * mean


def decode_png(data: bytes) -> DecodedPng:
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    position = len(PNG_SIGNATURE)
    header: tuple[int, ...] | None = None
    compressed = bytearray()
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"corrupt {kind!r} chunk")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed += body
        elif kind == b"IEND":
            break
        position += 12 + length
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height, bit_depth, color_type, _, _, interlace = header
    if bit_depth != 8 or interlace != 0 or color_type not in CHANNELS_BY_COLOR_TYPE:
        raise ValueError(
            f"unsupported PNG layout (depth {bit_depth}, colour {color_type}, interlace {interlace})"
        )
    channels = CHANNELS_BY_COLOR_TYPE[color_type]
    return DecodedPng(
        width, height, channels, _unfilter(zlib.decompress(compressed), width, height, channels)
    )


def _unfilter(raw: bytes, width: int, height: int, channels: int) -> list[bytes]:
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError("PNG pixel data has the wrong length")
    rows: list[bytes] = []
    previous = bytearray(stride)
    for index in range(height):
        start = index * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, up_left)) & 0xFF
            elif kind != 0:
                raise ValueError(f"unknown PNG filter {kind}")
        rows.append(bytes(line))
        previous = line
    return rows


def _paeth(left: int, up: int, up_left: int) -> int:
    estimate = left + up - up_left
    distance_left, distance_up, distance_up_left = (
        abs(estimate - left),
        abs(estimate - up),
        abs(estimate - up_left),
    )
    if distance_left <= distance_up and distance_left <= distance_up_left:
        return left
    return up if distance_up <= distance_up_left else up_left
