#!/usr/bin/env python3
"""Checks a playground screenshot is a real picture: the expected size, and
many colours in each third of the window (controls, curves, outputs), so a
blank or half-drawn window fails. With --curves, also that the loss and
accuracy panel (the middle column's first row of plots) has curves drawn in
it: the first series' colour (PC's) and the second's (backprop's) each in
at least 100 of its pixel columns (the two legends' swatches fill some 30).
Standard library only (a small PNG reader).
Usage: check_screenshot.py FILE.png WIDTH HEIGHT [--curves]"""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            if depth != 8 or color not in (2, 6):
                sys.exit(f"{path}: expected 8-bit RGB(A)")
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


# ui/plot.cpp's palette: the first two series' colours.
SERIES = {"PC": (31, 119, 180), "backprop": (214, 39, 40)}


def check_curves(path, w, h, ch, rows):
    """The loss and accuracy plots: between the controls (22 % of the width)
    and the outputs (the last 30 %), from 10 % to 40 % of the height."""
    x0, x1, y0, y1 = int(w * 0.23), int(w * 0.69), int(h * 0.10), int(h * 0.40)
    for name, (r, g, b) in SERIES.items():
        xs = []
        for y in range(y0, y1):
            row = rows[y]
            for x in range(x0, x1):
                p = row[x * ch:x * ch + 3]
                if abs(p[0] - r) + abs(p[1] - g) + abs(p[2] - b) < 60:
                    xs.append(x)
        columns = len(set(xs))
        print(f"{name} curve: {len(xs)} pixels in {columns} of the plots' {x1 - x0} columns")
        if columns < 100:
            sys.exit(f"{path}: no {name} curve in the loss and accuracy plots")


def main(path, want_w, want_h, curves=False):
    w, h, ch, rows = read_png(path)
    if (w, h) != (want_w, want_h):
        sys.exit(f"{path}: {w}x{h}, expected {want_w}x{want_h}")
    for third in range(3):
        colours = set()
        for y in range(0, h, 3):
            row = rows[y]
            for x in range(third * w // 3, (third + 1) * w // 3, 3):
                colours.add(row[x * ch:x * ch + 3])
        if len(colours) < 40:
            sys.exit(f"{path}: part {third + 1} of 3 has only {len(colours)} colours: blank?")
        print(f"part {third + 1}: {len(colours)} colours")
    if curves:
        check_curves(path, w, h, ch, rows)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), "--curves" in sys.argv[4:])
