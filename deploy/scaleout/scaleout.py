#!/usr/bin/python3
"""Scale-out test of uringrpc-server (run through deploy/scaleout-test.sh).

Parts:
  1  load spreads behind nginx (grpc_pass to 3 replicas, HTTP/2 upstream keepalive);
  2  rolling restart behind nginx under steady load, zero failed calls: each replica replaced
     by one of three procedures (lb-first, term-first, same-port: see part2());
  3a client-side round_robin (grpcio, ipv4: address list) spreads the load;
  3b a replica added later: a long-lived round_robin channel whose name resolves through DNS
     (a stub server here, a headless Service in Kubernetes) moves onto it once
     --max-connection-age recycles its connections — and, as the control, never does without.

Every server, nginx and client it starts is recorded (pid and start time) in $SCALEOUT_PIDFILE
and stopped by its PID on the way out, whatever happens; the shell wrapper's trap stops what is
left from that file. Only 127.0.0.0/8 addresses are used; every port is chosen at run time.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsstub import DnsStub  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STARTUP_RE = re.compile(r"uringrpc-server listening on (\d+\.\d+\.\d+\.\d+):(\d+) shards=(\d+) "
                        r"io=(\w+)(?: tls=\S+)?(?: admin=127\.0\.0\.1:(\d+))?")
STATS_RE = re.compile(r"shard (\d+) connections=(\d+) calls=(\d+) ok=(\d+) failed=(\d+) "
                      r"cancelled=(\d+)")
TOLERANCE = 0.20


class Failure(Exception):
    pass


class PortInUse(Exception):
    pass


def log(*a):
    print(*a, flush=True)


def pct(x, mean):
    return f"{(x - mean) / mean * 100:+.1f} %" if mean else "n/a"


def within(counts, tol=TOLERANCE):
    mean = sum(counts) / len(counts)
    return mean > 0 and all(abs(c - mean) <= tol * mean for c in counts), mean


def proc_start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


class Procs:
    """Every process this run starts: recorded, and stopped by PID at the end."""

    def __init__(self, pidfile):
        self.pidfile = pidfile
        self.live = []  # (Popen, kind)

    def start(self, kind, argv, **kw):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True, **kw)
        with open(self.pidfile, "a") as f:
            f.write(f"{p.pid} {proc_start_time(p.pid) or 0} {kind}\n")
        self.live.append((p, kind))
        return p

    def record_extra(self, pid, kind):
        st = proc_start_time(pid)
        if st:
            with open(self.pidfile, "a") as f:
                f.write(f"{pid} {st} {kind}\n")

    def stop_all(self):
        for p, kind in reversed(self.live):
            if p.poll() is not None:
                continue
            workers = children_of(p.pid) if kind == "nginx" else []
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=12 if kind == "replica" else 5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
            for w in workers:  # nginx workers die with a SIGTERMed master; a SIGKILLed one not
                if proc_start_time(w) is not None:
                    try:
                        os.kill(w, signal.SIGKILL)
                    except OSError:
                        pass


class Replica:
    def __init__(self, ctx, name, listen, extra=(), retry_in_use=False):
        """Starts one replica and waits for its startup line and /readyz. retry_in_use: the
        address was just freed by a predecessor; retry a few times while it is in use."""
        for attempt in range(20):
            try:
                return self._start(ctx, name, listen, extra)
            except PortInUse:
                if not retry_in_use or attempt == 19:
                    raise Failure(f"replica {name}: {listen} stays in use")
                time.sleep(0.05)

    def _start(self, ctx, name, listen, extra):
        self.name = name
        self.logpath = os.path.join(ctx.work, f"replica-{name}.log")
        self.log = open(self.logpath, "w")
        argv = [ctx.server, "--listen", listen, "--shards", "1", "--admin-listen", "127.0.0.1:0",
                "--shutdown-grace", "10", *extra]
        self.argv = argv
        self.proc = ctx.procs.start("replica", argv, stdout=self.log, stderr=subprocess.STDOUT)
        self.exit_time = None
        deadline = time.monotonic() + 15
        m = None
        while time.monotonic() < deadline:
            with open(self.logpath) as f:
                m = STARTUP_RE.search(f.read())
            if m or self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if not m:
            if self.proc.poll() is None:
                raise Failure(f"replica {name} printed no startup line in 15 s")
            with open(self.logpath) as f:
                if "in use" in f.read():
                    raise PortInUse()
            raise Failure(f"replica {name} ({' '.join(argv)}) did not start: "
                          f"{open(self.logpath).read().strip()}")
        self.ip, self.port, self.admin = m.group(1), int(m.group(2)), int(m.group(5))
        self.addr = f"{self.ip}:{self.port}"
        while time.monotonic() < deadline:  # ready: /readyz 200
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise Failure(f"replica {name} not ready (/readyz) in 15 s")

    def handled(self):
        """grpc_server_handled_total of helloworld.Greeter/SayHello by grpc_code."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=3) as r:
            txt = r.read().decode()
        out = {}
        for line in txt.splitlines():
            if line.startswith("grpc_server_handled_total{") and 'grpc_method="SayHello"' in line:
                code = re.search(r'grpc_code="(\w+)"', line).group(1)
                out[code] = int(float(line.rsplit(" ", 1)[1]))
        return out

    def ok(self):
        return self.handled().get("OK", 0)

    def terminate(self):
        self.proc.send_signal(signal.SIGTERM)

    def watch_exit(self, secs):
        """Polls for `secs` (or until it exits), noting when it exited."""
        end = time.monotonic() + secs
        while self.exit_time is None and time.monotonic() < end:
            if self.proc.poll() is not None:
                self.exit_time = time.monotonic()
            else:
                time.sleep(0.005)

    def wait_exit(self, timeout=15):
        self.watch_exit(timeout)
        if self.exit_time is None:
            raise Failure(f"replica {self.name} did not exit {timeout} s after SIGTERM")
        rc = self.proc.wait()
        self.log.close()
        with open(self.logpath) as f:
            stats = [tuple(map(int, m.groups())) for m in STATS_RE.finditer(f.read())]
        keys = ("connections", "calls", "ok", "failed", "cancelled")
        tot = {k: sum(s[i + 1] for s in stats) for i, k in enumerate(keys)}
        return rc, tot


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    def __init__(self, ctx, upstreams):
        self.ctx = ctx
        self.dir = os.path.join(ctx.work, "nginx")
        for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.errlog = os.path.join(self.dir, "error.log")
        self.accesslog = os.path.join(self.dir, "access.log")
        with open(os.path.join(HERE, "nginx.conf.in")) as f:
            self.template = f.read()
        for attempt in range(3):
            self.port = free_port()
            self._write(upstreams)
            self._test()
            self.out = open(os.path.join(self.dir, "stdout.log"), "a")
            self.proc = ctx.procs.start("nginx", [ctx.nginx, "-p", self.dir, "-c", self.conf,
                                                  "-e", self.errlog],
                                        stdout=self.out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    for w in children_of(self.proc.pid):
                        ctx.procs.record_extra(w, "nginx-worker")
                    return
                except OSError:
                    time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            err = open(self.errlog).read()
            if "Address already in use" not in err:
                raise Failure(f"nginx did not start:\n{err[-2000:]}")
        raise Failure("nginx: no free port in 3 tries")

    def _write(self, upstreams):
        user = ""
        if os.geteuid() == 0:  # workers keep the invoking user (root here) instead of nobody
            import grp
            import pwd
            user = (f"user {pwd.getpwuid(os.geteuid()).pw_name} "
                    f"{grp.getgrgid(os.getegid()).gr_name};")
        servers = "\n".join(f"        server {a} max_fails=0;" for a in upstreams)
        text = (self.template.replace("@DIR@", self.dir).replace("@PORT@", str(self.port))
                .replace("@SERVERS@", servers).replace("@USER_LINE@", user))
        with open(self.conf + ".new", "w") as f:
            f.write(text)
        os.replace(self.conf + ".new", self.conf)

    def _test(self):
        r = subprocess.run([self.ctx.nginx, "-t", "-q", "-p", self.dir, "-c", self.conf,
                            "-e", self.errlog], capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            raise Failure(f"nginx -t: {r.stderr.strip()}")

    def workers(self):
        return set(children_of(self.proc.pid))

    def reload(self, upstreams):
        """New upstream list: config rewritten and checked, SIGHUP to the master. Returns when a
        worker with the new configuration runs; the old workers drain on their own."""
        old = self.workers()
        self._write(upstreams)
        self._test()
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            new = self.workers() - old
            if new:
                for w in new:
                    self.ctx.procs.record_extra(w, "nginx-worker")
                return old
            time.sleep(0.01)
        raise Failure("nginx: no new worker 10 s after SIGHUP (see error.log)")

    def wait_gone(self, pids, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not (pids & self.workers()):
                return True
            time.sleep(0.05)
        return False

    def error_counts(self, since=0):
        """Counts of the error log's lines of interest from byte offset `since` on, and the
        log's size (the next `since`)."""
        with open(self.errlog) as f:
            f.seek(since)
            txt = f.read()
            end = f.tell()
        return {"upstream sent goaway": txt.count("upstream sent goaway"),
                "connect() failed": txt.count("connect() failed"),
                "upstream prematurely closed": txt.count("upstream prematurely closed"),
                "connection reset": txt.count("reset by peer"),
                "alert/crit/emerg": len(re.findall(r"\[(alert|crit|emerg)\]", txt))}, end

    def access_stats(self, since_line=0):
        """(lines, retried, non-OK) in the access log from line since_line on."""
        lines = retried = bad = 0
        with open(self.accesslog) as f:
            for i, line in enumerate(f):
                if i < since_line:
                    continue
                lines += 1
                parts = line.split('"')
                if len(parts) >= 6:
                    if "," in parts[1]:
                        retried += 1
                    if line.split()[1] != "200" or parts[5] != "0":
                        bad += 1
        return since_line + lines, retried, bad


class Load:
    """deploy/scaleout/load.py as a process: started, waited READY, stopped, result read."""

    def __init__(self, ctx, target, *args):
        argv = ["/usr/bin/python3", os.path.join(HERE, "load.py"), "--target", target,
                "--stubs", ctx.stubs, *map(str, args)]
        self.proc = ctx.procs.start("load", argv, stdout=subprocess.PIPE,
                                    stderr=open(os.path.join(ctx.work, "load.err"), "a"),
                                    text=True)
        self.lines = []
        self.started = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 20
        while not self.started.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.result(timeout=5)
                raise Failure(f"load client did not start: {self.lines}")
        self.t0 = time.monotonic()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            if line.startswith("load started"):
                self.started.set()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def result(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure("load client did not finish in time")
        self.reader.join(timeout=5)
        for line in reversed(self.lines):
            if line.startswith("{"):
                r = json.loads(line)
                if "error" in r:
                    raise Failure(f"load client: {r['error']}")
                return r
        raise Failure(f"load client printed no result (rc {self.proc.returncode}): {self.lines}")


def failed_str(r):
    n = sum(r["failed"].values())
    if not n:
        return "failed=0"
    return f"failed={n} ({', '.join(f'{k} {v}' for k, v in sorted(r['failed'].items()))})"


# ---- part 1 -----------------------------------------------------------------------------

def part1(ctx, reps, ngx):
    n = ctx.calls
    log(f"\n[1] load spread behind nginx: {n} unary calls through nginx (127.0.0.1:{ngx.port}) "
        f"to {len(reps)} replicas")
    before = [r.ok() for r in reps]
    ld = Load(ctx, f"127.0.0.1:{ngx.port}", "--count", n, "--channels", 4, "--threads", 2,
              "--rate", ctx.rate1)
    res = ld.result(timeout=n / ctx.rate1 * 3 + 30)
    counts = [r.ok() - b for r, b in zip(reps, before)]
    other = sum(sum(v for k, v in r.handled().items() if k != "OK") for r in reps)
    ok, mean = within(counts)
    log(f"    client: ok={res['ok']} {failed_str(res)} in {res['elapsed']:.1f} s "
        f"({res['rate']:.0f} calls/s)")
    for r, c in zip(reps, counts):
        log(f"    replica {r.name} {r.addr}: {c} calls OK ({pct(c, mean)} from the mean {mean:.0f})")
    checks = [
        (res["ok"] == n and not res["failed"], f"all {n} calls OK"),
        (sum(counts) == n and other == 0, f"replicas served {sum(counts)} OK, {other} not OK"),
        (ok, f"every replica within ±{TOLERANCE * 100:.0f} % of the mean"),
    ]
    return report("1", checks, f"{n} calls via nginx, ok={res['ok']} {failed_str(res)}; "
                  f"per replica {counts} (mean {mean:.0f}, max deviation "
                  f"{max(abs(c - mean) for c in counts) / mean * 100:.1f} %)")


def report(part, checks, brief):
    good = all(c for c, _ in checks)
    for c, what in checks:
        log(f"    {'ok  ' if c else 'FAIL'} {what}")
    ctxresults.append((part, good, brief))
    return good


ctxresults = []


# ---- part 2 -----------------------------------------------------------------------------

def part2(ctx, reps, ngx):
    dur = ctx.roll_duration
    orders = ctx.roll_order.split(",")
    log(f"\n[2] rolling restart behind nginx: {dur:.0f} s of steady load ({ctx.rate2:.0f} calls/s, "
        f"4 channels x 2 threads), each replica replaced in turn")
    log("    each step starts the replacement (new port, port 0) and waits for its /readyz, then")
    log("      lb-first:   rewrites the upstream list, reloads nginx (SIGHUP) and SIGTERMs the old "
        "replica at once (nginx's old worker may still be sending to it)")
    log(f"      term-first: SIGTERMs the old replica, and reloads nginx {ctx.lb_lag:.1f} s later "
        "(a load balancer that learns late, as Kubernetes endpoints can): nginx keeps sending "
        "to the draining replica until then")
    log("      same-port:  no reload: SIGTERMs the old replica, waits for its exit and starts the "
        "replacement on the same address (a fixed upstream list, as for a host-level restart)")
    line0, _, _ = ngx.access_stats()
    _, err0 = ngx.error_counts()
    ld = Load(ctx, f"127.0.0.1:{ngx.port}", "--duration", dur, "--channels", 4, "--threads", 2,
              "--rate", ctx.rate2)
    time.sleep(3)
    steps = []
    for slot in range(len(reps)):
        order = orders[slot % len(orders)]
        if order not in ("lb-first", "term-first", "same-port"):
            raise Failure(f"--roll-order: unknown step {order!r}")
        old = reps[slot]
        new_name = f"{old.name[0]}{int(old.name[1:]) + 1}"
        if order != "same-port":
            new = Replica(ctx, new_name, "127.0.0.1:0")
            upstreams = [r.addr for r in reps]
            upstreams[slot] = new.addr
        _, e0 = ngx.error_counts()
        t = time.monotonic()
        old_workers, gap = set(), None
        if order == "term-first":
            old.terminate()
            old.watch_exit(ctx.lb_lag)
            old_workers = ngx.reload(upstreams)
        elif order == "lb-first":
            old_workers = ngx.reload(upstreams)
            t = time.monotonic()
            old.terminate()
        else:
            old.terminate()
        rc, stats = old.wait_exit(timeout=15)
        t_drain = old.exit_time - t
        if order == "same-port":
            new = Replica(ctx, new_name, old.addr, retry_in_use=True)
            gap = time.monotonic() - old.exit_time
        gone = ngx.wait_gone(old_workers, timeout=20)
        t_workers = time.monotonic() - t
        time.sleep(1.0)  # the old worker's last log lines
        errs, _ = ngx.error_counts(e0)
        reps[slot] = new
        steps.append((old, new, rc, stats, gone))
        what = (f"replacement listening {gap:.2f} s after the old one exited" if gap is not None
                else f"nginx's old worker gone {t_workers:.1f} s after the step began"
                + ("" if gone else " — NOT gone"))
        log(f"    {order:<10} {old.name} {old.addr} -> {new.name} {new.addr}: old replica exited "
            f"{t_drain:.2f} s after SIGTERM (rc {rc}; it served ok={stats['ok']} "
            f"failed={stats['failed']} cancelled={stats['cancelled']}); {what}; nginx "
            f"retried: {errs['connect() failed']} refused connects, "
            f"{errs['upstream sent goaway']} GOAWAY'd calls, "
            f"{errs['connection reset']} resets")
        if time.monotonic() - ld.t0 > dur - 4:
            break
        time.sleep(1.0)
    res = ld.result(timeout=dur + 30)
    time.sleep(1.2)  # access log flush=1s
    _, retried, bad = ngx.access_stats(line0)
    errs, _ = ngx.error_counts(err0)
    log(f"    client: ok={res['ok']} {failed_str(res)} in {res['elapsed']:.1f} s "
        f"({res['rate']:.0f} calls/s)")
    for e in res["errors"]:
        log(f"      {e}")
    log(f"    nginx: {retried} calls went to a second replica; error.log: "
        + ", ".join(f"{k} x{v}" for k, v in errs.items()))
    log("    replacements served (OK): " + ", ".join(f"{r.name} {r.ok()}" for r in reps))
    checks = [
        (len(steps) == len(reps), f"all {len(reps)} replicas replaced while the load ran"),
        (res["ok"] > 0 and not res["failed"], f"zero failed calls ({res['ok']} OK)"),
        (all(s[2] == 0 and s[3]["failed"] == 0 for s in steps),
         "old replicas exited 0 with no failed call"),
        (bad == 0, f"nginx logged {bad} calls with a non-200 status or non-0 grpc-status"),
        (errs["alert/crit/emerg"] == 0 and errs["upstream prematurely closed"] == 0,
         "no alert or premature close in nginx's error log"),
    ]
    return report("2", checks, f"{len(steps)} replicas replaced ({','.join(orders[:len(steps)])}) "
                  f"under {res['rate']:.0f} calls/s: ok={res['ok']} {failed_str(res)}; nginx sent "
                  f"{retried} calls on to a second replica")


# ---- part 3 -----------------------------------------------------------------------------

def part3a(ctx, reps):
    n = ctx.rr_calls
    target = "ipv4:" + ",".join(r.addr for r in reps)
    log(f"\n[3a] client-side round_robin: {n} calls on one grpcio channel "
        f"(grpc.lb_policy_name round_robin, target {target})")
    before = [r.ok() for r in reps]
    ld = Load(ctx, target, "--lb", "round_robin", "--count", n, "--channels", 1,
              "--threads", 4, "--rate", ctx.rate1)
    res = ld.result(timeout=n / ctx.rate1 * 3 + 30)
    counts = [r.ok() - b for r, b in zip(reps, before)]
    ok, mean = within(counts)
    log(f"    client: ok={res['ok']} {failed_str(res)} in {res['elapsed']:.1f} s")
    for r, c in zip(reps, counts):
        log(f"    replica {r.name} {r.addr}: {c} ({pct(c, mean)})")
    checks = [(res["ok"] == n and not res["failed"], f"all {n} calls OK"),
              (ok, f"every replica within ±{TOLERANCE * 100:.0f} % of the mean")]
    return report("3a", checks, f"round_robin over ipv4: list: ok={res['ok']} {failed_str(res)}; "
                  f"per replica {counts}")


def late_replica(ctx, dns, label, age_flags):
    """3 replicas on 127.0.0.2-4 at one port, a long-lived round_robin channel to a DNS name
    listing them; a 4th replica (127.0.0.5) starts and the name lists it too. Returns the
    timeline facts."""
    ips = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    late_ip = "127.0.0.5"
    first = Replica(ctx, f"{label}1", f"{ips[0]}:0", age_flags)
    port = first.port
    reps = [first] + [Replica(ctx, f"{label}{i + 2}", f"{ip}:{port}", age_flags)
                      for i, ip in enumerate(ips[1:])]
    name = f"{label}.replicas.scaleout.test"
    dns.set(name, ips)
    target = f"dns://127.0.0.1:{dns.port}/{name}:{port}"
    ld = Load(ctx, target, "--lb", "round_robin", "--duration", 60, "--channels", 1,
              "--threads", 4, "--rate", ctx.rate3, "--dns-min-reresolve-ms", ctx.reresolve_ms)
    timeline = []

    def sample(all_reps):
        timeline.append((time.monotonic(), [r.ok() for r in all_reps]))

    def window(i, secs, n):
        """Counts of the first n replicas over the `secs` before sample i."""
        t, c = timeline[i]
        j = i
        while j > 0 and timeline[j - 1][0] >= t - secs - 1e-3:
            j -= 1
        j = max(j - 1, 0)
        return [c[k] - (timeline[j][1][k] if k < len(timeline[j][1]) else 0) for k in range(n)], \
            t - timeline[j][0]

    try:
        t_end_warm = time.monotonic() + ctx.warm
        while time.monotonic() < t_end_warm:
            sample(reps)
            time.sleep(0.25)
        sample(reps)
        warm_counts, _ = window(len(timeline) - 1, ctx.warm - 1, 3)
        late = Replica(ctx, f"{label}L", f"{late_ip}:{port}", age_flags)
        all_reps = reps + [late]
        dns.set(name, ips + [late_ip])
        t_add = time.monotonic()
        sample(all_reps)
        bound = ctx.age * 1.1 + ctx.grace
        watch_until = t_add + bound + 3
        t_first = t_fair = None
        while time.monotonic() < watch_until:
            time.sleep(0.25)
            sample(all_reps)
            i = len(timeline) - 1
            t, c = timeline[i]
            if c[3] > 0 and t_first is None:
                t_first = t
            if t_first is not None and t_fair is None and timeline[i][0] - 1.0 >= t_first:
                w, _ = window(i, 1.0, 4)
                good, _ = within(w)
                if good:
                    t_fair = t
            if t_fair is not None and t >= t_fair + 2:
                break
        final, span = window(len(timeline) - 1, 2.0, 4)
    finally:
        ld.stop()
    res = ld.result(timeout=15)
    for r in all_reps:
        r.terminate()
    for r in all_reps:
        r.wait_exit(timeout=15)
    return {"port": port, "reps": reps, "late": late, "warm": warm_counts, "final": final,
            "span": span, "t_first": None if t_first is None else t_first - t_add,
            "t_fair": None if t_fair is None else t_fair - t_add, "client": res,
            "late_total": timeline[-1][1][3], "watched": timeline[-1][0] - t_add,
            "bound": bound}


def part3b(ctx, dns):
    age_flags = ["--max-connection-age", str(ctx.age), "--max-connection-age-grace",
                 str(ctx.grace)]
    log(f"\n[3b] a replica added later: one long-lived grpcio channel, round_robin, target "
        f"dns://127.0.0.1:DNSPORT/NAME:PORT (a DNS stub on 127.0.0.1 answers A records, as a "
        f"headless Service does), {ctx.rate3} calls/s; replicas on 127.0.0.2-4 (one port: DNS "
        f"carries addresses, not ports), the late one on 127.0.0.5; client option "
        f"grpc.dns_min_time_between_resolutions_ms={ctx.reresolve_ms} (grpc's default: 30000)")
    ok_all = True

    log(f"    control, without --max-connection-age: the name lists the late replica after "
        f"{ctx.warm:.0f} s")
    c = late_replica(ctx, dns, "ctl", [])
    log(f"      before: {c['warm']} over {ctx.warm - 1:.0f} s; after {c['watched']:.1f} s the "
        f"late replica had served {c['late_total']} calls; client ok={c['client']['ok']} "
        f"{failed_str(c['client'])}")
    checks = [(c["late_total"] == 0,
               "control: the long-lived channel never re-resolves by itself, so the late "
               "replica gets nothing"),
              (not c["client"]["failed"], "control: zero failed calls")]
    ok_all &= report("3b-control", checks, f"no --max-connection-age: late replica served "
                     f"{c['late_total']} calls in {c['watched']:.1f} s after DNS listed it; "
                     f"{failed_str(c['client'])}")

    log(f"    with --max-connection-age {ctx.age} --max-connection-age-grace {ctx.grace} "
        f"(GOAWAY after {ctx.age}s ±10 %): the name lists the late replica after "
        f"{ctx.warm:.0f} s")
    r = late_replica(ctx, dns, "age", age_flags)
    warm_ok, wmean = within(r["warm"])
    fin_ok, fmean = within(r["final"])
    log(f"      before: {r['warm']} over {ctx.warm - 1:.0f} s "
        f"({', '.join(pct(x, wmean) for x in r['warm'])})")
    tf = "never" if r["t_first"] is None else f"{r['t_first']:.2f} s"
    tfair = "never" if r["t_fair"] is None else f"{r['t_fair']:.2f} s"
    log(f"      late replica: first call {tf} after it was listed; share within "
        f"±{TOLERANCE * 100:.0f} % (1 s window) {tfair} after (bound: age x 1.1 + grace = "
        f"{r['bound']:.1f} s, + 1 s window)")
    log(f"      last {r['span']:.1f} s: {r['final']} ({', '.join(pct(x, fmean) for x in r['final'])})"
        f"; client ok={r['client']['ok']} {failed_str(r['client'])}")
    checks = [(warm_ok, "before: the 3 replicas within ±20 % of the mean"),
              (r["t_fair"] is not None and r["t_fair"] <= r["bound"] + 1.0,
               "the late replica reaches its share within max-connection-age + grace"),
              (fin_ok, "after: all 4 within ±20 % of the mean"),
              (not r["client"]["failed"], "zero failed calls")]
    ok_all &= report("3b", checks, f"--max-connection-age {ctx.age} + grace {ctx.grace}: late "
                     f"replica's first call after {tf}, share within ±20 % after {tfair} "
                     f"(bound {r['bound']:.1f} s + 1 s window); ok={r['client']['ok']} "
                     f"{failed_str(r['client'])}")
    return ok_all


# ---- main -------------------------------------------------------------------------------

class Ctx:
    pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--nginx", required=True)
    p.add_argument("--stubs", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--pidfile", required=True)
    p.add_argument("--calls", type=int, default=30000, help="part 1")
    p.add_argument("--rr-calls", type=int, default=6000, help="part 3a")
    p.add_argument("--rate1", type=float, default=2500, help="calls/s, parts 1 and 3a")
    p.add_argument("--rate2", type=float, default=600, help="calls/s during the rolling restart")
    p.add_argument("--rate3", type=float, default=400, help="calls/s, part 3b")
    p.add_argument("--roll-duration", type=float, default=24)
    p.add_argument("--roll-order", default="lb-first,term-first,same-port",
                   help="per replaced replica: lb-first, term-first or same-port")
    p.add_argument("--lb-lag", type=float, default=0.5,
                   help="term-first: seconds from SIGTERM to the nginx reload")
    p.add_argument("--age", type=int, default=5, help="3b: --max-connection-age")
    p.add_argument("--grace", type=int, default=2, help="3b: --max-connection-age-grace")
    p.add_argument("--warm", type=float, default=7,
                   help="3b: seconds of load before the late replica is listed")
    p.add_argument("--reresolve-ms", type=int, default=1000,
                   help="3b: the client's grpc.dns_min_time_between_resolutions_ms; 0 = grpc's "
                        "default (30 s)")
    p.add_argument("--time-limit", type=int, default=270, help="seconds for the whole run")
    p.add_argument("--parts", default="1,2,3a,3b", help="which parts to run")
    ctx = p.parse_args(namespace=Ctx())
    ctx.procs = Procs(ctx.pidfile)

    def on_signal(signum, _):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    def on_alarm(*_):
        raise Failure(f"time limit of {ctx.time_limit} s reached")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(ctx.time_limit)
    t0 = time.monotonic()
    ver = subprocess.run([ctx.nginx, "-v"], capture_output=True, text=True).stderr.strip()
    log(f"uringrpc scale-out test: {ctx.server}; {ver}; work dir {ctx.work}")
    dns = None
    parts = ctx.parts.split(",")
    unknown = set(parts) - {"1", "2", "3a", "3b"}
    if unknown:
        log(f"--parts: unknown {sorted(unknown)}")
        return 2
    results = {}
    try:
        if {"1", "2", "3a"} & set(parts):
            reps = [Replica(ctx, f"{chr(ord('A') + i)}1", "127.0.0.1:0") for i in range(3)]
            ngx = Nginx(ctx, [r.addr for r in reps])
            log(f"replicas (--shards 1): {', '.join(f'{r.name} {r.addr}' for r in reps)}; "
                f"nginx on 127.0.0.1:{ngx.port} (master pid {ngx.proc.pid})")
            if "1" in parts:
                results["1"] = part1(ctx, reps, ngx)
            if "2" in parts:
                results["2"] = part2(ctx, reps, ngx)
            if "3a" in parts:
                results["3a"] = part3a(ctx, reps)
            for r in reps:
                r.terminate()
            for r in reps:
                r.wait_exit()
        if "3b" in parts:
            dns = DnsStub()
            results["3b"] = part3b(ctx, dns)
    except Failure as e:
        log(f"\nFAIL: {e}")
        results["error"] = False
    except KeyboardInterrupt as e:
        log(f"\ninterrupted ({e})")
        results["error"] = False
    finally:
        signal.alarm(0)
        ctx.procs.stop_all()
        if dns:
            dns.close()
    log("\n== summary ==")
    for part, good, brief in ctxresults:
        log(f"  part {part:<11} {'PASS' if good else 'FAIL'}  {brief}")
    passed = all(results.values()) and all(p in results for p in parts)
    log(f"RESULT: {'PASS' if passed else 'FAIL'} in {time.monotonic() - t0:.0f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
