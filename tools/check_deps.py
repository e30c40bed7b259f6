#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Include-graph check of libs/<lib>/ against the allowed-dependency table in docs/architecture.md.

Every *.hpp/*.cpp/*.h under libs/<lib>/ (include/, src/ and test/) is scanned for #include lines:
  "wa/<x>/..." (or <wa/<x>/...>)  -> our library x; allowed if x == lib or x is in lib's "may depend on" cell
  "*.pb.h"                        -> generated protobuf code, i.e. our library proto
  <family/...> (see FAMILIES)     -> a third-party family; allowed if named in lib's "third party" cell
  anything else without a slash   -> the C++/C standard library, always allowed
Files under libs/<lib>/test/ may also include gtest/gmock. Violations are printed as
  file:line: wa_<lib> may not include <header> (<reason>)
and the exit status is 1. --self-test proves the check bites on a throw-away tree.
"""
import argparse
import re
import sys
import tempfile
from pathlib import Path

# Third-party families: a key ending in "/" is a directory prefix, anything else an exact header name.
# The first match wins, so specific prefixes come before "boost/".
FAMILIES = [
    ("boost/asio/", "asio"), ("boost/asio.hpp", "asio"), ("asio/", "asio"), ("asio.hpp", "asio"),
    ("boost/beast/", "beast"), ("boost/beast.hpp", "beast"), ("boost/", "boost"),
    ("openssl/", "openssl"), ("signal/", "libsignal"), ("google/protobuf/", "protobuf"),
    ("zlib.h", "zlib"), ("sqlite3.h", "sqlite"), ("libpq-fe.h", "libpq"), ("nlohmann/", "json"),
    ("gtest/", "gtest"), ("gmock/", "gtest"), ("benchmark/", "benchmark"), ("curl/", "curl"),
    ("qrencode.h", "qrencode"), ("zbar.h", "zbar"), ("png.h", "png"), ("jpeglib.h", "jpeg"),
    ("libavformat/", "libav"), ("libavcodec/", "libav"), ("libavutil/", "libav"), ("libswscale/", "libav"),
    ("sys/", "posix"), ("netinet/", "posix"), ("arpa/", "posix"), ("unistd.h", "posix"),
    ("fcntl.h", "posix"), ("netdb.h", "posix"), ("poll.h", "posix"), ("dlfcn.h", "posix"),
]
# Names accepted in the "third party" column (lower-cased, parenthesised notes removed) -> family.
ALIASES = {
    "asio": "asio", "beast": "beast", "boost": "boost", "openssl": "openssl", "libsignal": "libsignal",
    "libsignal-protocol-c": "libsignal", "protobuf": "protobuf", "zlib": "zlib", "sqlite": "sqlite",
    "sqlite3": "sqlite", "libpq": "libpq", "json": "json", "nlohmann json": "json", "gtest": "gtest",
    "benchmark": "benchmark", "curl": "curl", "qrencode": "qrencode", "zbar": "zbar", "png": "png", "jpeg": "jpeg",
    "libav": "libav",
    "posix": "posix", "std": None,
}
NONE_CELLS = {"", "—", "-", "–", "none"}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE_SUFFIXES = {".hpp", ".cpp", ".h"}


def cell_items(cell):
    """Splits a table cell on commas; drops parenthesised notes, backticks and 'none' markers."""
    cell = re.sub(r"\([^)]*\)", "", cell.replace("`", ""))
    return [] if cell.strip() in NONE_CELLS else [i.strip() for i in cell.split(",") if i.strip()]


def parse_table(doc):
    """Returns {lib: (set of our libs, set of third-party families)} from the first matching table."""
    table, cols = {}, None
    for n, line in enumerate(doc.read_text().splitlines(), 1):
        if not line.lstrip().startswith("|"):
            if table:
                break  # the table ended
            cols = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        low = [c.lower() for c in cells]
        if cols is None:
            if "library" in low and any(c.startswith("may depend on") for c in low) and "third party" in low:
                cols = (low.index("library"), [i for i, c in enumerate(low) if c.startswith("may depend on")][0],
                        low.index("third party"))
            continue
        if set(line) <= set("|-: \t"):
            continue  # the |---| separator row
        name = cell_items(cells[cols[0]])[0].split()[0]
        ours = {d.split()[0] for d in cell_items(cells[cols[1]])}
        theirs = set()
        for item in cell_items(cells[cols[2]]):
            if item.lower() not in ALIASES:
                sys.exit(f"{doc}:{n}: unknown third-party family '{item}' (known: {', '.join(sorted(ALIASES))})")
            theirs.add(ALIASES[item.lower()])
        table[name] = (ours, theirs - {None})
    if not table:
        sys.exit(f"{doc}: no '| library | may depend on (ours) | third party |' table found")
    for name, (ours, _) in table.items():
        for dep in ours - table.keys():
            sys.exit(f"{doc}: {name} may depend on '{dep}', which has no row of its own")
    return table


def classify(delim, header):
    """Returns ('lib', name), ('family', name), ('std', None) or ('local', None) for one include."""
    if header.startswith("wa/") and header.count("/") >= 2:
        return "lib", header.split("/")[1]
    if header.endswith(".pb.h"):
        return "lib", "proto"  # generated from libs/proto/proto/wa.proto
    for prefix, family in FAMILIES:
        if header == prefix or (prefix.endswith("/") and header.startswith(prefix)):
            return "family", family
    if delim == '"':
        return "local", None  # a private header of the same library ("tags.hpp")
    return ("std", None) if "/" not in header else ("family", "unknown")


def check(root):
    """Returns the list of violation strings for the tree at root."""
    table = parse_table(root / "docs" / "architecture.md")
    problems = []
    for lib_dir in sorted(p for p in (root / "libs").iterdir() if p.is_dir()):
        lib = lib_dir.name
        if lib not in table:
            problems.append(f"{lib_dir.relative_to(root)}: wa_{lib} has no row in docs/architecture.md")
            continue
        ours, theirs = table[lib]
        for path in sorted(p for p in lib_dir.rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file()):
            rel = path.relative_to(root)
            is_test = rel.parts[2] == "test"
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                delim, header = m.groups()
                shown = f'"{header}"' if delim == '"' else f"<{header}>"
                kind, name = classify(delim, header)
                if kind == "lib" and name != lib and name not in ours:
                    reason = f"wa_{name} is not in {lib}'s allowed list" if name in table else f"no library '{name}'"
                elif kind == "family" and name == "unknown":
                    reason = "unrecognised third-party header; add its family to tools/check_deps.py"
                elif kind == "family" and name not in theirs and not (is_test and name == "gtest"):
                    reason = f"{name} is not an allowed third party for {lib}"
                else:
                    continue
                problems.append(f"{rel}:{n}: wa_{lib} may not include {shown} ({reason})")
    return problems


def self_test():
    """Builds a fake tree with allowed and forbidden includes; the check must flag exactly the forbidden ones."""
    files = {
        "docs/architecture.md": "| library | may depend on (ours) | third party |\n| --- | --- | --- |\n"
                                "| core | — | std |\n| wire | core | zlib |\n",
        "libs/core/src/a.cpp": '#include "wa/core/a.hpp"\n#include "wa/wire/node.hpp"\n#include <vector>\n',
        "libs/wire/src/b.cpp": '#include "wa/core/a.hpp"\n#include <zlib.h>\n#include <openssl/evp.h>\n',
        "libs/wire/test/b_test.cpp": '#include "wa/wire/b.hpp"\n#include <gtest/gtest.h>\n',
    }
    expected = {"libs/core/src/a.cpp:2", "libs/wire/src/b.cpp:3"}
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in files.items():
            (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / rel).write_text(text)
        problems = check(Path(tmp))
    found = {":".join(p.split(":")[:2]) for p in problems}
    print("\n".join(problems))
    if found != expected:
        print(f"self-test FAILED: expected violations at {sorted(expected)}, got {sorted(found)}")
        return 1
    print(f"self-test passed: {len(expected)} forbidden includes caught, allowed ones accepted")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent, help="repository root")
    ap.add_argument("--self-test", action="store_true", help="prove the check catches a forbidden include")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    problems = check(args.root.resolve())
    print("\n".join(problems) if problems else "check_deps: all library includes follow docs/architecture.md")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
