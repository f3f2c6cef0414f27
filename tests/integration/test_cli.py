#!/usr/bin/python3
"""The uringrpc-server command line: --help, --version, bad flags, a port in use, and io_uring
blocked by seccomp (through the deny_io_uring helper): an error with --io uring, epoll with the
default. One scenario per --case."""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, check, log, run_cmd  # noqa: E402

PREFIX = "uringrpc-server: "


def stderr_lines(r):
    return [l for l in r.stderr.splitlines() if l.strip()]


def expect_one_error_line(r, what, want_rc=None, complete=True):
    """Non-zero exit, nothing on stdout, exactly one stderr line starting 'uringrpc-server: '."""
    lines = stderr_lines(r)
    log(f"{what}: rc={r.returncode} stderr={lines!r}")
    check(not harness.sanitizer_report(r.stderr), f"{what}: sanitizer report:\n{r.stderr}")
    check(r.returncode != 0, f"{what}: exit code 0, expected an error")
    check(r.returncode > 0, f"{what}: killed by signal {-r.returncode}")
    if want_rc is not None:
        check(r.returncode == want_rc, f"{what}: exit code {r.returncode}, expected {want_rc}")
    check(len(lines) == 1, f"{what}: expected exactly one stderr line, got {lines!r}")
    check(lines[0].startswith(PREFIX), f"{what}: stderr line does not start with {PREFIX!r}: "
                                       f"{lines[0]!r}")
    check(len(lines[0]) > len(PREFIX) + 10, f"{what}: stderr line says nothing: {lines[0]!r}")
    cut_short = lines[0] != lines[0].rstrip() or lines[0].endswith((">=", "(", ",", ":"))
    check(not (complete and cut_short),
          f"{what}: the stderr line looks cut short: {lines[0]!r} ({len(lines[0])} chars)")
    check(r.stdout.strip() == "", f"{what}: unexpected stdout {r.stdout!r}")
    return lines[0]


def case_help(args):
    r = run_cmd([args.server, "--help"])
    check(r.returncode == 0, f"--help: exit code {r.returncode}")
    check(r.stdout.startswith("usage: uringrpc-server"), f"--help: no usage line: {r.stdout!r}")
    for flag in ("--listen", "--shards", "--workers-per-shard", "--max-recv-message", "--help",
                 "--version"):
        check(flag in r.stdout, f"--help does not mention {flag}: {r.stdout!r}")
    check(r.stderr.strip() == "", f"--help wrote to stderr: {r.stderr!r}")
    log(r.stdout)


def case_version(args):
    r = run_cmd([args.server, "--version"])
    check(r.returncode == 0, f"--version: exit code {r.returncode}")
    want = f"uringrpc-server {args.expect_version}" if args.expect_version else None
    line = r.stdout.strip()
    log(f"--version: {line!r}")
    check(len(r.stdout.splitlines()) == 1, f"--version: expected one line: {r.stdout!r}")
    if want:
        check(line == want, f"--version printed {line!r}, expected {want!r}")
    else:
        check(line.startswith("uringrpc-server ") and any(c.isdigit() for c in line),
              f"--version printed {line!r}")


def case_bad_flags(args):
    bad_flags = [
        ["--shards", "abc"], ["--shards", "0"], ["--shards", "-1"], ["--shards", "1x"],
        ["--shards", ""], ["--shards", "99999999999999999999"], ["--shards"],
        ["--workers-per-shard", "many"], ["--workers-per-shard", "-1"],
        ["--max-recv-message", "0"], ["--max-recv-message", "4MiB"],
        ["--max-recv-message", "4294967296"],
        ["--bogus"], ["-x"], ["--help=yes"], ["extra-argument"],
        ["--compression", "br"], ["--compression", "GZIP"], ["--stream-window", "0"],
        ["--conn-window", "1000"], ["--conn-window", "3000000000"], ["--io", "io_uring"],
        ["--io", ""], ["--io"],
    ]
    for flags in bad_flags:
        r = run_cmd([args.server, "--listen", "127.0.0.1:0", *flags], timeout=20)
        expect_one_error_line(r, " ".join(flags), want_rc=2)
    bad_listen = ["nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:http",
                  "::1:80", "[::1:80", "256.0.0.1:0", "no.such.host.invalid:0", ":x",
                  "192.0.2.1:0"]  # TEST-NET-1: not an address of this host
    for addr in bad_listen:
        r = run_cmd([args.server, "--listen", addr, "--shards", "1"], timeout=20)
        expect_one_error_line(r, f"--listen {addr}")


def case_port_in_use(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        for shards in ("1", "2"):
            r = run_cmd([args.server, "--listen", f"127.0.0.1:{port}", "--shards", shards],
                        timeout=30)
            line = expect_one_error_line(r, f"port {port} in use, {shards} shard(s)", want_rc=1)
            check("in use" in line, f"the error does not say the address is in use: {line!r}")
            check(str(port) in line, f"the error does not name the port: {line!r}")
    finally:
        s.close()


def deny_helper(args):
    helper = args.deny_io_uring
    check(helper and os.access(helper, os.X_OK), f"deny_io_uring helper not found: {helper!r}")
    r = run_cmd([helper, "/bin/true"], timeout=20)
    if r.returncode == harness.SKIP:
        raise Skip(f"cannot install a seccomp filter here: {r.stderr.strip()}")
    check(r.returncode == 0, f"deny_io_uring /bin/true: rc {r.returncode} {r.stderr!r}")
    return helper


def run_denied(args, shards):
    """--io uring where io_uring_setup fails as under a container's default seccomp profile."""
    return run_cmd([deny_helper(args), args.server, "--listen", "127.0.0.1:0", "--shards", shards,
                    "--io", "uring"], timeout=30)


def check_names_profile(args, line):
    """The line names the shipped seccomp profile, and that file exists."""
    named = 0
    for word in line.replace("=", " ").split():
        word = word.strip("(),;.'\"")
        if word.startswith("deploy/") and args.proto_dir:
            path = os.path.join(os.path.dirname(os.path.abspath(args.proto_dir)), word)
            check(os.path.exists(path), f"the line names {word}, which does not exist")
            named += 1
    check(named > 0, f"the line does not name the shipped seccomp profile: {line!r}")


def case_no_io_uring_message(args):
    """--io uring: the io_uring line is whole (not cut off by a buffer) and the profile it names
    exists."""
    line = expect_one_error_line(run_denied(args, "1"), "io_uring denied", complete=False)
    check(line == line.rstrip() and not line.endswith((">=", "(", ",", ":")),
          f"the io_uring error line looks cut short: {line!r} ({len(line)} chars)")
    check_names_profile(args, line)


def case_no_io_uring(args):
    """--io uring fails with one line naming seccomp; the default (auto) serves on epoll instead,
    saying why in one line, and answers calls."""
    try:
        import h2raw
    except ImportError:
        raise Skip("python3-h2 is not installed for /usr/bin/python3")
    for shards in ("1", "2"):
        r = run_denied(args, shards)
        line = expect_one_error_line(r, f"--io uring, io_uring denied, {shards} shard(s)",
                                     want_rc=1, complete=False)
        low = line.lower()
        check("io_uring" in low, f"the error does not mention io_uring: {line!r}")
        check("seccomp" in low, f"the error does not mention seccomp: {line!r}")
    for shards in ("1", "2"):
        with Server(args.server, "--shards", shards, "--io", "auto",
                    wrapper=[deny_helper(args)]) as srv:
            check(srv.io == "epoll", f"auto with io_uring denied runs {srv.io}")
            h2raw.say_hello_ok(srv.port, "on epoll")
            res = srv.stop()
        lines = [l for l in res.stderr.splitlines() if "serving with epoll" in l]
        check(len(lines) == 1, f"want one line saying why epoll, got {lines} in {res.stderr!r}")
        check("seccomp" in lines[0], f"the fallback line does not say seccomp: {lines[0]!r}")
        check_names_profile(args, lines[0])
        check(res.total("ok") >= 1, f"no call counted on epoll: {res.stats}")
    # The same server without the filter runs io_uring (so epoll above was the filter's doing).
    with Server(args.server, "--shards", "1", "--io", "auto") as srv:
        check(srv.io == "uring", f"auto without a filter runs {srv.io}")
        srv.stop()


def case_signals(args):
    """SIGHUP does not stop the server; SIGINT stops it like SIGTERM (exit 0, stats lines)."""
    try:
        import h2raw
    except ImportError:
        raise Skip("python3-h2 is not installed for /usr/bin/python3")
    with Server(args.server, "--shards", "2") as srv:
        h2raw.say_hello_ok(srv.port, "before")
        os.kill(srv.proc.pid, signal.SIGHUP)
        time.sleep(0.2)
        check(srv.alive(), "SIGHUP stopped the server")
        h2raw.say_hello_ok(srv.port, "after SIGHUP")
        res = srv.stop(signal.SIGINT)
        check(res.total("ok") >= 2, f"ok counts after SIGINT: {res.stats}")


CASES = {
    "help": case_help,
    "version": case_version,
    "bad_flags": case_bad_flags,
    "port_in_use": case_port_in_use,
    "signals": case_signals,
    "no_io_uring": case_no_io_uring,
    "no_io_uring_message": case_no_io_uring_message,
}

if __name__ == "__main__":
    def extra(p):
        p.add_argument("--expect-version", default="")
        p.add_argument("--deny-io-uring", default="")
    harness.run_cases(CASES, harness.parse_args(extra))
