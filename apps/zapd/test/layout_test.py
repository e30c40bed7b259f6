#!/usr/bin/env python3
"""unit.zapd_layout: the functions listed in layout.txt are packed together in the zapd binary.

Fails when the link no longer honours the list (the listed functions spread over the whole text again) and when
the list has gone stale (most of its names no longer exist: rerun scripts/zapd_layout.sh).
usage: layout_test.py <zapd binary> <layout.txt>
"""
import subprocess
import sys

binary, layout = sys.argv[1], sys.argv[2]
listed = [l.strip() for l in open(layout) if l.strip() and not l.startswith('#')]
symbols = {}
text_lo, text_hi = None, 0
out = subprocess.run(['nm', '-S', '--defined-only', binary], check=True, capture_output=True, text=True).stdout
for line in out.splitlines():
    parts = line.split()
    if len(parts) != 4 or parts[2] not in 'tTwW':
        continue
    addr, size = int(parts[0], 16), int(parts[1], 16)
    symbols[parts[3]] = (addr, size)
    text_lo = addr if text_lo is None else min(text_lo, addr)
    text_hi = max(text_hi, addr + size)

present = sorted(symbols[n] for n in listed if n in symbols)
share = len(present) / max(1, len(listed))
packed = sum(size for _, size in present)
# The most of the listed code found within one stretch of text a little longer than that code: all of it when
# the link packed the list (a few functions that GCC placed in other groups aside), a small part otherwise.
window = packed * 5 // 4 + 64 * 1024
best, lo, inside = 0, 0, 0
for hi in range(len(present)):
    inside += present[hi][1]
    while present[hi][0] + present[hi][1] - present[lo][0] > window:
        inside -= present[lo][1]
        lo += 1
    best = max(best, inside)
print(f'{len(listed)} listed, {len(present)} in the binary ({share:.0%}); {best / max(1, packed):.0%} of their '
      f'{packed / 1024:.0f} KB of code within {window / 1024:.0f} KB of the {(text_hi - text_lo) / 1024:.0f} KB of text')
failed = False
if share < 0.75:
    print('FAIL: layout.txt is stale (under 75 % of its functions exist): run scripts/zapd_layout.sh')
    failed = True
if best < packed * 0.9:
    print('FAIL: the listed functions are not packed together: the link did not apply layout.txt')
    failed = True
sys.exit(1 if failed else 0)
