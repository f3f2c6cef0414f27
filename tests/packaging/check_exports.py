#!/usr/bin/python3
"""liburingrpc.so exports the public API and nothing else.

  - its SONAME is the one given (liburingrpc.so.0);
  - `nm -D --defined-only` lists exactly the functions the public headers declare (urpc_*),
    each with the version node URINGRPC_0 (cmake/uringrpc.map), and nothing else;
  - each public header compiles on its own, as C11 with -Wall -Wextra -Werror, and as C++ when
    a C++ compiler is there; each one that declares functions has extern "C".

Exit 0 pass, 1 fail, 77 skip (binutils missing).

  check_exports.py --library build/liburingrpc.so --soname liburingrpc.so.0 \
                   --headers rpc/uringrpc.h obs/urpc_metrics.h ... --source-dir .
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

VERSION_NODE = "URINGRPC_0"


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r.stdout


def declared_functions(paths):
    """Names of the functions the headers declare: urpc_x( outside comments, not (*urpc_x)."""
    names = set()
    for p in paths:
        with open(p) as f:
            text = f.read()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"//[^\n]*", " ", text)
        text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)  # macros
        # Not a pointer's name, (*urpc_x)(...), nor a return type, urpc_t (*fn)(...).
        for m in re.finditer(r"(\(\s*\*\s*)?\b(urpc_[A-Za-z0-9_]*)\s*\((?!\s*\*)", text):
            if not m.group(1):
                names.add(m.group(2))
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", required=True)
    ap.add_argument("--soname", required=True)
    ap.add_argument("--headers", nargs="+", required=True, help="relative to --source-dir")
    ap.add_argument("--source-dir", required=True)
    a = ap.parse_args()
    for tool in ("nm", "readelf"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} missing (binutils)")
            sys.exit(77)

    dyn = run(["readelf", "-d", a.library])
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", dyn)
    if not m or m.group(1) != a.soname:
        fail(f"SONAME {m.group(1) if m else None!r}, expected {a.soname!r}")
    print(f"SONAME {a.soname}")

    exported = {}
    for line in run(["nm", "-D", "--defined-only", a.library]).splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        kind, sym = parts[1], parts[2]
        name, _, version = sym.partition("@")
        version = version.lstrip("@")
        if name == VERSION_NODE and kind == "A":  # the version node's own symbol
            continue
        exported[name] = (kind, version)
    headers = [os.path.join(a.source_dir, h) for h in a.headers]
    declared = declared_functions(headers)
    print(f"{len(exported)} symbols exported, {len(declared)} functions declared in "
          f"{', '.join(a.headers)}")
    extra = sorted(set(exported) - declared)
    missing = sorted(declared - set(exported))
    unversioned = sorted(n for n, (_, v) in exported.items() if v != VERSION_NODE)
    not_code = sorted(n for n, (k, _) in exported.items() if k not in ("T", "W", "i"))
    if extra:
        fail(f"exported but not declared in a public header: {extra}")
    if missing:
        fail(f"declared in a public header but not exported: {missing}")
    if unversioned:
        fail(f"exported without the version {VERSION_NODE}: {unversioned}")
    if not_code:
        fail(f"exported data symbols (not functions): {not_code}")
    print("exports == public functions, all @@" + VERSION_NODE)

    for h in headers:
        with open(h) as f:
            text = f.read()
        if declared_functions([h]) and 'extern "C"' not in text:
            fail(f'{h} declares functions without extern "C" for C++')

    # The headers compile alone, as installed (flat in one include directory).
    with tempfile.TemporaryDirectory(prefix="urpc-hdr-") as tmp:
        inc = os.path.join(tmp, "include")
        os.mkdir(inc)
        for h in headers:
            shutil.copy(h, inc)
        compilers = [("cc", "c", ["-std=c11"])]
        if shutil.which("c++"):
            compilers.append(("c++", "cpp", ["-std=c++17"]))
        for cc, ext, std in compilers:
            for h in headers:
                src = os.path.join(tmp, f"t.{ext}")
                with open(src, "w") as f:
                    f.write(f'#include "{os.path.basename(h)}"\n')
                run([cc, *std, "-Wall", "-Wextra", "-Werror", "-fsyntax-only", f"-I{inc}", src])
            print(f"{len(headers)} headers compile alone with {cc} {std[0]}")
    print("PASS")


if __name__ == "__main__":
    main()
