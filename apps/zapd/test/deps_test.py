#!/usr/bin/env python3
"""unit.zapd_deps: zapd needs exactly the shared libraries that WA_STATIC_DEPS says.

static: OpenSSL, SQLite, protobuf-lite and libstdc++ are inside the binary (no DT_NEEDED entry for them), and the
binary exports none of their symbols, so that a shared OpenSSL loaded later by a dlopen()ed libpq keeps its own.
shared: all of them are DT_NEEDED entries, as with any other Debian program.
Either way the static TLS block, which every thread gets, stays small.
usage: deps_test.py <zapd binary> static|shared
"""
import re
import subprocess
import sys

binary, mode = sys.argv[1], sys.argv[2]
dyn = subprocess.run(['readelf', '-d', '-W', binary], check=True, capture_output=True, text=True).stdout
needed = re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', dyn)
print('DT_NEEDED:', ' '.join(needed))
watched = ['libcrypto.so', 'libssl.so', 'libsqlite3.so', 'libprotobuf-lite.so', 'libstdc++.so']
failed = False
for lib in watched:
    present = any(n.startswith(lib) for n in needed)
    if present != (mode == 'shared'):
        print(f'FAIL: {lib} is {"a" if present else "not a"} shared dependency in a {mode} build')
        failed = True
if not needed:
    print('FAIL: no DT_NEEDED at all: not a dynamically linked zapd')
    failed = True
exported = subprocess.run(['nm', '-D', '--defined-only', binary], check=True, capture_output=True, text=True).stdout
leaks = [l.split()[-1] for l in exported.splitlines() if re.match(r'(SSL|EVP|OPENSSL|CRYPTO|sqlite3)_', l.split()[-1])]
if leaks:
    print(f'FAIL: the binary exports {len(leaks)} OpenSSL/SQLite symbols, e.g. {leaks[:5]}')
    failed = True
# Every thread gets the static TLS block (thread_local data of zapd and the libraries inside it), zeroed: a large
# thread_local buffer costs its size in resident memory in each of zapd's threads, not only in those that use it.
segments = subprocess.run(['readelf', '-lW', binary], check=True, capture_output=True, text=True).stdout
tls = [int(l.split()[5], 16) for l in segments.splitlines() if l.split()[:1] == ['TLS']]
print('static TLS block:', tls[0] if tls else 0, 'bytes')
if tls and tls[0] > 16 * 1024:
    print(f'FAIL: the static TLS block is {tls[0]} bytes (over 16 KB): a thread_local buffer belongs on the heap')
    failed = True
if mode == 'static':
    # The code is really there: a static build without OpenSSL inside would not link, but check the symbol too.
    syms = subprocess.run(['nm', '--defined-only', binary], check=True, capture_output=True, text=True).stdout
    for sym in ['EVP_PKEY_derive', 'SSL_connect', 'sqlite3_step']:
        if not re.search(r'\s' + sym + r'$', syms, re.M):
            print(f'FAIL: {sym} is not defined in the static build')
            failed = True
sys.exit(1 if failed else 0)
