#!/usr/bin/python3
"""The places uringrpc-server's flags are written down agree with the binary:

  - every flag --help defines has an entry in the man page (docs/uringrpc-server.1) and the
    man page has no entry --help lacks; every --flag either of them mentions anywhere is one
    that --help defines (no stale or misspelt names);
  - README's flag table has a row for every flag but --help, --version and --print-config, and
    no other;
  - --print-config prints one key=value line for every flag that sets an option (the same
    list, in --help's order), shows the flags given with it, exits 0 without serving, and still
    refuses a bad flag (exit 2);
  - the man page's header names the version --version prints.

Exit 0 pass, 1 fail.

  check_docs.py --server build/examples/uringrpc-server --man docs/uringrpc-server.1 \
                --readme README.md
"""
import argparse
import re
import subprocess
import sys

FLAG = r"--[a-z0-9][a-z0-9-]*"
NOT_OPTIONS = {"--help", "--version", "--print-config"}  # flags that set nothing


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        fail(f"{' '.join(cmd)} did not finish within 30 s")


def ordered(flags):
    return list(dict.fromkeys(flags))


def help_flags(server):
    r = run([server, "--help"])
    if r.returncode != 0:
        fail(f"--help: exit {r.returncode}")
    defined = ordered(re.findall(rf"^\s+({FLAG})", r.stdout, flags=re.M))
    mentioned = set(re.findall(FLAG, r.stdout))
    return defined, mentioned


def man_flags(path):
    with open(path) as f:
        raw = f.read()
    text = raw.replace("\\-", "-")
    text = re.sub(r"\\f[BIRP]", "", text)
    lines = text.splitlines()
    defined = []
    for i, line in enumerate(lines[:-1]):
        if line.startswith(".TP"):
            m = re.match(rf"\.B[IR]?\s+({FLAG})", lines[i + 1])
            if m:
                defined.append(m.group(1))
    body = "\n".join(l for l in lines if not l.startswith('.\\"'))  # not the comments
    mentioned = set(re.findall(FLAG, body))
    th = re.search(r'^\.TH\s+\S+\s+\S+\s+"[^"]*"\s+"uringrpc ([^"]+)"', text, flags=re.M)
    return ordered(defined), mentioned, th.group(1) if th else None


def readme_table_flags(path):
    flags = []
    with open(path) as f:
        for line in f:
            if line.startswith("| `--"):
                first_cell = line.split("|")[1]
                flags += re.findall(FLAG, first_cell)
    return ordered(flags)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--man", required=True)
    ap.add_argument("--readme", required=True)
    a = ap.parse_args()
    problems = []

    hdef, hment = help_flags(a.server)
    mdef, mment, man_version = man_flags(a.man)
    print(f"--help defines {len(hdef)} flags; the man page has {len(mdef)} entries")
    if set(hdef) - set(mdef):
        problems.append(f"in --help, no entry in {a.man}: {sorted(set(hdef) - set(mdef))}")
    if set(mdef) - set(hdef):
        problems.append(f"entries in {a.man} that --help lacks: {sorted(set(mdef) - set(hdef))}")
    if hment - set(hdef):
        problems.append(f"--help mentions flags it does not define: {sorted(hment - set(hdef))}")
    if mment - set(hdef):
        problems.append(f"{a.man} mentions flags --help does not define: "
                        f"{sorted(mment - set(hdef))}")
    if len(mdef) != len(set(mdef)):
        problems.append(f"{a.man}: a flag has two entries: {mdef}")

    options = [f for f in hdef if f not in NOT_OPTIONS]
    table = readme_table_flags(a.readme)
    if set(options) - set(table):
        problems.append(f"README's table has no row for {sorted(set(options) - set(table))}")
    if set(table) - set(options):
        problems.append(f"README's table has rows for flags that set no option or do not "
                        f"exist: {sorted(set(table) - set(options))}")

    r = run([a.server, "--print-config"])
    if r.returncode != 0 or r.stderr.strip():
        problems.append(f"--print-config: exit {r.returncode}, stderr {r.stderr!r}")
    lines = r.stdout.splitlines()
    bad = [l for l in lines if not re.fullmatch(r"[a-z0-9-]+=.*", l)]
    if bad:
        problems.append(f"--print-config: lines that are not key=value: {bad}")
    keys = [l.split("=", 1)[0] for l in lines]
    want = [f[2:] for f in options]
    if keys != want:
        problems.append(f"--print-config keys differ from --help's options (order too): "
                        f"missing {sorted(set(want) - set(keys))}, extra "
                        f"{sorted(set(keys) - set(want))}"
                        + ("" if set(keys) != set(want) else "; order differs")
                        + " (examples/print_config.c)")
    print(f"--print-config: {len(lines)} lines")
    r = run([a.server, "--shards", "3", "--print-config", "--max-connection-age", "300",
             "--tls12"])
    got = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
    for k, v in (("shards", "3"), ("max-connection-age", "300"), ("tls12", "true")):
        if got.get(k) != v:
            problems.append(f"--print-config with flags: {k}={got.get(k)!r}, expected {v!r}")
    r = run([a.server, "--print-config", "--shards", "0"])
    if r.returncode != 2 or r.stdout:
        problems.append(f"--print-config --shards 0: exit {r.returncode} (expected 2), "
                        f"stdout {r.stdout!r}")

    r = run([a.server, "--version"])
    version = r.stdout.strip().rpartition(" ")[2]
    if man_version != version:
        problems.append(f"the man page's .TH says uringrpc {man_version!r}, --version {version!r}")

    if problems:
        fail("\n  ".join([""] + problems))
    print(f"--help, man page, README table ({len(table)} flags) and --print-config agree; "
          f"version {version}")
    print("PASS")


if __name__ == "__main__":
    main()
