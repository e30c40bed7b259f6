#!/usr/bin/env python3
"""Expands apps/zapd/layout.txt (function symbols, one per line) into gold's --section-ordering-file.

Under -ffunction-sections GCC puts a function in .text.<symbol>, or .text.unlikely.<symbol> when it judges it cold,
or .text.startup.<symbol> for code run once at start (main, static initialisers); the cold part of a split function
(<symbol>.cold) is in .text.unlikely.<symbol>. A complete-object constructor or destructor (C1, D1) is often an
alias of the base-object one (C2, D2), whose name the section carries. Names that match no section are ignored.
usage: layout_sections.py <layout.txt> <output>
"""
import re
import sys

out = []
seen = set()


def add(section):
    if section not in seen:
        seen.add(section)
        out.append(section)


for line in open(sys.argv[1], encoding='utf-8'):
    name = line.strip()
    if not name or name.startswith('#'):
        continue
    if name.endswith('.cold'):
        add('.text.unlikely.' + name[:-len('.cold')])
        continue
    variants = [name]
    for one, two in (('C1E', 'C2E'), ('D1E', 'D2E'), ('C1B', 'C2B'), ('D1B', 'D2B')):
        if one in name:
            variants.append(name.replace(one, two, 1))
    for v in variants:
        add('.text.' + v)
        add('.text.unlikely.' + v)
        if v == 'main' or v.startswith('_GLOBAL__sub_I') or v.startswith('_Z41__static_initialization'):
            add('.text.startup.' + v)
with open(sys.argv[2], 'w', encoding='utf-8') as f:
    f.write('\n'.join(out) + '\n')
