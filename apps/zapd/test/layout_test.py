#!/usr/bin/env python3
"""unit.zapd_layout: the functions listed in layout.txt are packed together in the zapd binary.

Two kinds of listed functions: ours (one section each, -ffunction-sections), and those of the static libraries
inside zapd (OpenSSL, SQLite, protobuf-lite, libstdc++: their functions come with their object file's section).
Fails when the link no longer honours the list, for either kind: our listed functions spread over the whole text
again, or the libraries' listed functions sit where their archives fall in link order (the end of the text)
instead of at its start. Also fails when the list has gone stale (most of its names no longer exist: rerun
scripts/zapd_layout.sh).
usage: layout_test.py <zapd binary> <layout.txt> [static archive ...]
"""
import subprocess
import sys

binary, layout, archives = sys.argv[1], sys.argv[2], sys.argv[3:]
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

# The functions the static libraries define (none when zapd uses the shared ones: then nothing is listed of them).
from_libraries = set()
for archive in archives:
    nm = subprocess.run(['nm', '--defined-only', archive], capture_output=True, text=True).stdout
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-2] in 'tTwW':
            from_libraries.add(parts[-1])

in_binary = [n for n in listed if n in symbols]
share = len(in_binary) / max(1, len(listed))
ours = sorted(symbols[n] for n in in_binary if n not in from_libraries)
theirs = sorted((symbols[n][0] - text_lo) / max(1, text_hi - text_lo) for n in in_binary if n in from_libraries)

packed = sum(size for _, size in ours)
# The most of our listed code found within one stretch of text a little longer than that code: all of it when
# the link packed the list (a few functions that GCC placed in other groups aside), a small part otherwise.
window = packed * 5 // 4 + 64 * 1024
best, lo, inside = 0, 0, 0
for hi in range(len(ours)):
    inside += ours[hi][1]
    while ours[hi][0] + ours[hi][1] - ours[lo][0] > window:
        inside -= ours[lo][1]
        lo += 1
    best = max(best, inside)
print(f'{len(listed)} listed, {len(in_binary)} in the binary ({share:.0%}); ours: {best / max(1, packed):.0%} of their '
      f'{packed / 1024:.0f} KB of code within {window / 1024:.0f} KB of the {(text_hi - text_lo) / 1024:.0f} KB of text')
failed = False
if share < 0.75:
    print('FAIL: layout.txt is stale (under 75 % of its functions exist): run scripts/zapd_layout.sh')
    failed = True
if best < packed * 0.9:
    print('FAIL: our listed functions are not packed together: the link did not apply layout.txt')
    failed = True
if archives:
    if len(theirs) < 100:
        print(f'FAIL: only {len(theirs)} listed functions of the static libraries are in the binary '
              '(a static build lists hundreds: rerun scripts/zapd_layout.sh)')
        failed = True
    else:
        p90 = theirs[int(len(theirs) * 0.9)]
        print(f'static libraries: {len(theirs)} listed functions, 90 % of them within the first {p90:.0%} of the text')
        # Placed by the list: with ours at the start (about a quarter of the text). In link order: the last half.
        if p90 > 0.40:
            print('FAIL: the static libraries\' listed functions are not at the start of the text: the link did not '
                  'order their objects by layout.txt')
            failed = True
sys.exit(1 if failed else 0)
