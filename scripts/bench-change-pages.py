#!/usr/bin/env python3
"""make bench: changes FRACTION of the 8 kB pages of a stopped data directory's relation
files (base/, main forks), chosen with a fixed seed, by inverting 16 bytes in the middle of
each. The same pages change on every call, so a node restored back to its backup can be
made to differ from it by the same amount before each timed delta restore."""
import os
import random
import sys

root, fraction = sys.argv[1], float(sys.argv[2])
files = []
for directory, _, names in os.walk(os.path.join(root, "base")):
    for name in sorted(names):
        if name.isdigit() or (name.replace(".", "", 1).isdigit() and "." in name):
            path = os.path.join(directory, name)
            files.append((path, os.path.getsize(path) // 8192))
files.sort()
total = sum(blocks for _, blocks in files)
picks = sorted(random.Random(42).sample(range(total), int(total * fraction)))
first = 0
i = 0
for path, blocks in files:
    mine = []
    while i < len(picks) and picks[i] < first + blocks:
        mine.append(picks[i] - first)
        i += 1
    if mine:
        with open(path, "r+b") as f:
            for block in mine:
                f.seek(block * 8192 + 4096)
                data = f.read(16)
                f.seek(block * 8192 + 4096)
                f.write(bytes(b ^ 0xFF for b in data))
    first += blocks
print(f"changed {len(picks)} of {total} pages ({len(picks) * 8192 // 1048576} MB)", file=sys.stderr)
