#!/usr/bin/env python3
"""Cuts an IDX data set to a subset small enough for a web page.

    make_data.py SOURCE_DIR OUT_DIR TRAIN_COUNT TEST_COUNT

SOURCE_DIR holds train-/t10k- images and labels as IDX files (.gz or plain);
OUT_DIR gets the first TRAIN_COUNT and TEST_COUNT samples of each, as
gzip'd IDX with the names pcplay's reader looks for. Byte-identical output for
the same input (no time or name in the gzip header).
"""
import gzip
import os
import struct
import sys

FILES = {
    "train-images-idx3-ubyte": "train",
    "train-labels-idx1-ubyte": "train",
    "t10k-images-idx3-ubyte": "test",
    "t10k-labels-idx1-ubyte": "test",
}


def read_idx(path):
    for candidate in (path + ".gz", path):
        if os.path.exists(candidate):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(candidate, "rb") as f:
                return f.read()
    sys.exit(f"make_data.py: {path}[.gz] not found")


def head(raw, count, source):
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        sys.exit(f"make_data.py: {source}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = list(struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim]))
    per_sample = 1
    for d in dims[1:]:
        per_sample *= d
    count = min(count, dims[0])
    body = 4 + 4 * ndim
    dims[0] = count
    return raw[:4] + struct.pack(">" + "I" * ndim, *dims) + raw[body : body + count * per_sample]


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    source, out, train_count, test_count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(out, exist_ok=True)
    for name, part in FILES.items():
        data = head(read_idx(os.path.join(source, name)), train_count if part == "train" else test_count, name)
        target = os.path.join(out, name + ".gz")
        with open(target + ".tmp", "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
                f.write(data)
        os.replace(target + ".tmp", target)


if __name__ == "__main__":
    main()
