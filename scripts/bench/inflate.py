#!/usr/bin/python3
"""Inflate a dblat recording (one gzip stream) with zlib and count the bytes.

usage: inflate.py FILE     prints the number of uncompressed bytes

Timing this shows how much of `dblat report` is zlib's share: the same
library does the work, with no decoding behind it.
"""
import sys
import zlib


def main():
    d = zlib.decompressobj(47)  # 32 + 15: gzip or zlib header, largest window
    n = 0
    with open(sys.argv[1], "rb") as f:
        while True:
            b = f.read(1 << 16)
            if not b:
                break
            # Small output pieces: big ones would go through mmap/munmap
            # and charge page faults (sys time) that zlib itself does not cost.
            out = d.decompress(b, 1 << 16)
            n += len(out)
            while d.unconsumed_tail:
                out = d.decompress(d.unconsumed_tail, 1 << 16)
                n += len(out)
    n += len(d.flush())
    print(n)


if __name__ == "__main__":
    main()
