#!/usr/bin/env python3
"""Reads callgrind profiles of zapd; prints, sorted, every zapd function that executed (apps/zapd/layout.txt).

callgrind writes each object (ob=) and function (fn=, cfn=) name once with a numeric id, then the id alone;
with --demangle=no the names are the symbols, which lld's --symbol-ordering-file takes as they are. Functions
of the static libraries inside zapd (OpenSSL, SQLite, protobuf-lite, libstdc++) are zapd's too and are listed.
"""
import re
import sys

names = set()
for path in sys.argv[1:]:
    obs, fns, current = {}, {}, None
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            m = re.match(r'^(c?ob)=\((\d+)\)(?: (.*))?$', line.rstrip('\n'))
            if m:
                kind, ident, name = m.groups()
                if name:
                    obs[ident] = name
                if kind == 'ob':
                    current = obs.get(ident, '')
                continue
            m = re.match(r'^(c?fn)=\((\d+)\)(?: (.*))?$', line.rstrip('\n'))
            if m:
                kind, ident, name = m.groups()
                if name:
                    fns[ident] = re.sub(r"'\d+$", '', name)  # callgrind's recursion-depth suffix
                if kind == 'fn' and current and current.endswith('/zapd'):
                    names.add(fns[ident])
for name in sorted(names):
    if name.startswith('0x') or name.startswith('('):  # no symbol, or callgrind's "(below main)"
        continue
    print(name)
