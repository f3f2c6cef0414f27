#!/usr/bin/python3
"""Soak: mixed load against one uringrpc-server (2 shards, h2c and TLS) for SOAK_SECONDS; run
by bench/soak.sh (see there and bench/README.md for the environment).

  soak.py                        the driver
  soak.py part NAME PORT SECS    one load component (the driver starts each as a process)

Parts: h2load (unary SayHello at a fixed rate; run directly), `streams` (grpcio server and bidi
streams, half of them cancelled by the client or cut by short deadlines), `tls` (a new TLS
channel per SayHello: one full handshake each), `slow` (a raw HTTP/2 client reading a server
stream 1 KiB at a time), `hostile` (one small attack from hostile.py every few seconds).
Each part prints "RESULT {json}" at the end: counts, and the unexpected errors it saw.
The driver samples RSS, descriptors and CPU into samples.csv and prints the summary; exit 1 if
the server crashed or hung, or had live calls at exit.
"""
import collections
import json
import os
import signal
import subprocess
import sys
import time

import hostile
from hostile_lib import (
    FULL_DUPLEX, SAY_HELLO, STREAMING_OUTPUT, Closed, RawConn, Sampler,
    ServerProc, hello_request, log, proc_status, raise_nofile, request_block,
    streaming_output_request, unary_frames, window_update)

HERE = os.path.dirname(os.path.abspath(__file__))
env_num = hostile.env_num
EXPECTED = {"CANCELLED", "DEADLINE_EXCEEDED"}


class Tally:
    """Outcome counts, plus the first few unexpected errors in full."""

    def __init__(self):
        self.counts = collections.Counter()
        self.unexpected = []

    def add(self, what, detail=None):
        self.counts[what] += 1
        if detail is not None and len(self.unexpected) < 20:
            self.unexpected.append(f"{what}: {detail}"[:300])

    def result(self, **extra):
        return {"counts": self.counts, "unexpected": self.unexpected, **extra}


def grpc_outcome(t, kind, fn, expect):
    """Runs fn(); counts OK, the expected error `expect`, or anything else as unexpected."""
    import grpc
    try:
        fn()
        t.add(f"{kind} OK")
    except grpc.RpcError as e:
        code = e.code().name
        if code == expect:
            t.add(f"{kind} {code} (expected)")
        else:
            t.add(f"{kind} {code}", e.details())
    except AssertionError as e:
        t.add(f"{kind} wrong answer", str(e))


# ---- parts --------------------------------------------------------------------------------

def part_streams(port, secs):
    """grpcio on one channel, ~20 calls/s, in turn: a server stream cancelled after 3 of 20
    messages, one cut by a 50 ms deadline, a whole one, a bidi ping-pong of 5, a bidi stream
    cut by a 30 ms deadline."""
    import grpc
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(ch).result(timeout=10)
    sout = ch.unary_stream(STREAMING_OUTPUT)
    bidi = ch.stream_stream(FULL_DUPLEX)
    t = Tally()

    def cancelled_stream():
        call = sout(streaming_output_request([100] * 20, interval_us=5000), timeout=10)
        for i, _ in enumerate(call):
            if i == 2:
                call.cancel()

    def deadline_stream():
        for _ in sout(streaming_output_request([100] * 20, interval_us=10000), timeout=0.05):
            pass

    def whole_stream():
        call = sout(streaming_output_request([1024] * 10), timeout=10)
        n = sum(1 for _ in call)
        assert n == 10, (f"{n} messages, expected 10, at {time.monotonic() - t0:.1f} s; "
                         f"status {call.code().name} {call.details()!r}, initial metadata "
                         f"{call.initial_metadata()}, trailers {call.trailing_metadata()}")

    def ping_pong():
        n = sum(1 for _ in bidi(iter([streaming_output_request([64])] * 5), timeout=10))
        assert n == 5, f"{n} responses, expected 5, at {time.monotonic() - t0:.1f} s"

    def slow_requests():
        yield streaming_output_request([64])
        time.sleep(0.2)
        yield streaming_output_request([64])

    def deadline_bidi():
        for _ in bidi(slow_requests(), timeout=0.03):
            pass

    kinds = [("stream-cancel", cancelled_stream, "CANCELLED"),
             ("stream-deadline", deadline_stream, "DEADLINE_EXCEEDED"),
             ("stream-whole", whole_stream, None),
             ("bidi-pingpong", ping_pong, None),
             ("bidi-deadline", deadline_bidi, "DEADLINE_EXCEEDED")]
    t0 = time.monotonic()
    end = t0 + secs
    k = 0
    while time.monotonic() < end:
        kind, fn, expect = kinds[k % len(kinds)]
        k += 1
        grpc_outcome(t, kind, fn, expect)
        time.sleep(0.05)
    ch.close()
    return t.result()


def part_tls(port, secs):
    """A new TLS channel (its own subchannel: a full handshake) per SayHello, ~5/s."""
    import grpc
    with open(os.environ["TLS_CERT"], "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    t = Tally()
    end = time.monotonic() + secs
    while time.monotonic() < end:
        ch = grpc.secure_channel(f"127.0.0.1:{port}", creds,
                                 options=[("grpc.use_local_subchannel_pool", 1)])
        grpc_outcome(t, "tls SayHello",
                     lambda: ch.unary_unary(SAY_HELLO)(hello_request("tls"), timeout=5), None)
        ch.close()
        time.sleep(0.2)
    return t.result()


def part_slow(port, secs):
    """A raw HTTP/2 client with a 4 KiB socket buffer and 64 KiB windows that asks for 1,000
    messages of 1 KiB and reads 1 KiB every 50 ms (~20 KiB/s), giving the window back as it
    reads; a finished stream is followed by the next."""
    t, obs = Tally(), collections.Counter()
    end = time.monotonic() + secs
    conn, sid, want = None, None, 1000 * (1024 + 3 + 5)  # + payload framing + gRPC prefix
    block = request_block(STREAMING_OUTPUT)
    msg = streaming_output_request([1024] * 1000)
    acked, total = collections.Counter(), 0
    while time.monotonic() < end:
        if conn is None or conn.dead:
            if conn is not None:
                t.add("slow reader: connection ended", f"goaway={conn.goaway} eof={conn.eof}")
                conn.close()
            conn = RawConn(port, obs, settings=(), conn_window=65535, rcvbuf=4096)
            sid, acked = None, collections.Counter()
        if sid is None:
            sid = conn.new_sid()
            try:
                conn.send(unary_frames(sid, block, msg))
            except (Closed, TimeoutError):
                continue
        conn.pump(0.05, max_bytes=1024)
        got = conn.data_bytes[sid] - acked[sid]
        if got > 0:
            acked[sid] += got
            total += got
            try:
                conn.send(window_update(sid, got) + window_update(0, got))
            except (Closed, TimeoutError):
                continue
        if sid in conn.status or sid in conn.resets:
            code, n = conn.status.get(sid), conn.data_bytes[sid]
            if code == 0 and n >= want:
                t.add("slow stream OK")
            else:
                t.add("slow stream failed", f"grpc-status={code} reset={conn.resets.get(sid)} "
                                            f"bytes={n}")
            sid = None
        time.sleep(0.05)
    t.counts["slow KiB read"] = total // 1024
    conn and conn.close()
    return t.result()


# (attack, parameters, seconds held): small doses of hostile.py's attacks.
DOSES = [
    ("reset_defer", {"max_streams": 2000}, 0.5),
    ("madeyoureset", {"max_streams": 2000}, 0.5),
    ("gzip_bomb", {"conns": 1, "calls": 5}, 2.0),
    ("hpack_bomb", {"max_blocks": 8}, 0.5),
    ("zero_window", {"streams": 5, "size": 4 << 20}, 3.0),
    ("slowloris", {"conns": 20}, 5.0),
    ("conn_flood", {"conns": 50, "wave": 50}, 0.5),
    ("cancel_rate", {"rate": 200}, 2.0),
]


def part_hostile(port, secs):
    """One dose from DOSES every HOSTILE_EVERY seconds, in turn."""
    every = env_num("HOSTILE_EVERY", 4.0)
    obs, done = collections.Counter(), collections.Counter()
    end = time.monotonic() + secs
    k = 0
    while time.monotonic() + every < end:
        t_next = time.monotonic() + every
        name, params, hold = DOSES[k % len(DOSES)]
        k += 1
        stop, seen = hostile.Stop(hold), collections.Counter()  # a dose's limits count its own
        try:
            hostile.ATTACKS[name].fn(port, stop, seen, {}, params)
            done[name] += 1
        except Exception as e:  # counted, never fatal
            seen[f"{name} error {e.__class__.__name__}"] += 1
        obs.update(seen)
        time.sleep(max(0.0, t_next - time.monotonic()))
    return {"counts": done, "unexpected": [], "seen": obs}


PARTS = {"streams": part_streams, "tls": part_tls, "slow": part_slow, "hostile": part_hostile}


def part_main(name, port, secs):
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    raise_nofile(4096)
    if name == "hostile":
        sys.stdout = sys.stderr  # the attacks print READY; RESULT goes to the real stdout
    try:
        res = PARTS[name](port, secs)
    except Exception as e:
        res = {"counts": {}, "unexpected": [f"{name} part failed: {e!r}"[:300]]}
    sys.stdout = sys.__stdout__
    print("RESULT " + json.dumps(res), flush=True)


# ---- the driver ---------------------------------------------------------------------------

def h2load_argv(port, secs, body):
    return ["h2load", "-D", str(int(secs)), "-c", "2", "-m", "2", "-t", "1",
            "--rps", str(env_num("H2LOAD_RPS", 100)), "-H", "content-type: application/grpc",
            "-H", "te: trailers", "-d", body, f"http://127.0.0.1:{port}{SAY_HELLO}"]


def h2load_errors(text):
    """Unexpected outcomes from h2load's summary: failed/errored/timed-out requests, non-2xx."""
    out = []
    for line in text.splitlines():
        if line.startswith("requests:"):
            f = dict((w, int(n)) for n, w in zip(line.split()[1::2], line.split()[2::2]))
            for k in ("failed,", "errored,", "timeout"):
                if f.get(k):
                    out.append(f"h2load: {f[k]} requests {k.rstrip(',')}")
        if line.startswith("status codes:"):
            for n, cls in zip(line.split()[2::2], line.split()[3::2]):
                if cls.rstrip(",") != "2xx" and int(n):
                    out.append(f"h2load: {n} responses {cls.rstrip(',')}")
    return out


def slope_kib_per_min(samples):
    """Least-squares slope of RSS over time, after the first 20 % of the samples."""
    pts = [(t, r) for t, r, _, _ in samples[len(samples) // 5:] if r is not None]
    if len(pts) < 3:
        return None
    n = len(pts)
    mt, mr = sum(t for t, _ in pts) / n, sum(r for _, r in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    return None if var == 0 else sum((t - mt) * (r - mr) for t, r in pts) / var * 60


def start_parts(port, tls_port, secs, out_dir):
    procs = {}
    body = os.path.join(out_dir, "hello-request.bin")
    with open(body, "wb") as f:
        f.write(b"\x00\x00\x00\x00\x07\x0a\x05world")
    h2_out = open(os.path.join(out_dir, "h2load.out"), "wb")
    procs["h2load"] = subprocess.Popen(h2load_argv(port, secs, body), stdout=h2_out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for name in PARTS:
        p = tls_port if name == "tls" else port
        err = open(os.path.join(out_dir, f"part-{name}.stderr"), "wb")
        procs[name] = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "part", name, str(p), str(secs)],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, cwd=HERE)
    return procs


def driver_main():
    out_dir = os.environ["OUT_DIR"]
    secs = env_num("SOAK_SECONDS", 600.0)
    every = env_num("SAMPLE_SECONDS", 3.0)
    raise_nofile(65536)
    argv = [os.environ["URPC_BIN"], "--listen", "127.0.0.1:0", "--shards",
            os.environ.get("SHARDS", "2"), "--tls-listen", "127.0.0.1:0",
            "--tls-cert", os.environ["TLS_CERT"], "--tls-key", os.environ["TLS_KEY"]]
    argv += os.environ.get("URPC_ARGS", "").split()
    server = ServerProc(argv, out_dir, "server")
    log(f"server pid {server.pid} h2c port {server.port} tls port {server.tls_port}; "
        f"soaking {secs:g} s")
    sampler = Sampler(server.pid)
    csv = open(os.path.join(out_dir, "samples.csv"), "w")
    csv.write("t_s,rss_kib,fds,cpu_s\n")
    procs = start_parts(server.port, server.tls_port, secs, out_dir)
    crashed = None
    end = time.monotonic() + secs + 60  # the parts stop themselves at secs; 60 s of grace
    while time.monotonic() < end and any(p.poll() is None for p in procs.values()):
        t, rss, fds, cpu = sampler.sample()
        csv.write(f"{t:.1f},{rss or ''},{fds or ''},{'' if cpu is None else f'{cpu:.2f}'}\n")
        csv.flush()
        if not server.alive():
            crashed = f"server died during the soak (rc={server.proc.returncode})"
            break
        time.sleep(every)
    results = collect_parts(procs)
    hwm = proc_status(server.pid).get("VmHWM")
    how, stats = server.stop()
    crashed = crashed or how
    csv.close()
    return report(secs, sampler, hwm, results, stats, crashed, server, out_dir)


def collect_parts(procs):
    results = {}
    for name, p in procs.items():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate(timeout=10)
        if name == "h2load":
            continue
        line = next((l for l in (out or b"").decode(errors="replace").splitlines()
                     if l.startswith("RESULT ")), None)
        results[name] = json.loads(line[7:]) if line else {
            "counts": {}, "unexpected": [f"{name}: no result (exit {p.returncode})"]}
    return results


def report(secs, sampler, hwm, results, stats, crashed, server, out_dir):
    s = sampler.samples
    rss = [r for _, r, _, _ in s if r is not None]
    slope = slope_kib_per_min(s)
    cpu = s[-1][3] if s and s[-1][3] is not None else None
    with open(os.path.join(out_dir, "h2load.out"), errors="replace") as f:
        h2text = f.read()
    unexpected = h2load_errors(h2text)
    print(f"\n== soak: {secs:g} s, {len(s)} samples every ~{env_num('SAMPLE_SECONDS', 3.0):g} s "
          f"(samples.csv) ==")
    print(f"RSS KiB: start {rss[0] if rss else '-'}, max {max(rss) if rss else '-'}, "
          f"end {rss[-1] if rss else '-'}, VmHWM {hwm or '-'}")
    print("RSS slope after warm-up (least squares, last 80 % of samples): "
          + ("-" if slope is None else f"{slope:+.0f} KiB/min"))
    print(f"fds: max {sampler.max_fds()}, end {s[-1][2] if s else '-'}; "
          f"server CPU: {'-' if cpu is None else f'{cpu:.1f}'} s")
    req = next((l for l in h2text.splitlines() if l.startswith("requests:")), "h2load: no summary")
    print(f"h2load unary: {req}")
    for name, r in results.items():
        counts = ", ".join(f"{k} {v}" for k, v in sorted(r.get("counts", {}).items()))
        print(f"{name}: {counts or '-'}")
        if name == "hostile" and r.get("seen"):
            seen = sorted(r["seen"].items(), key=lambda kv: -kv[1])[:12]
            print("  attackers saw: " + ", ".join(f"{k} {v}" for k, v in seen))
        unexpected += r.get("unexpected", [])
    print("server exit: " + (crashed.upper() if crashed else f"rc={server.rc}"))
    for st in stats:
        print("  shard {shard} connections={connections} calls={calls} ok={ok} failed={failed} "
              "cancelled={cancelled} live={live}".format(**st))
    print("unexpected errors of the well-behaved clients (CANCELLED and DEADLINE_EXCEEDED "
          "where asked for are expected):")
    for u in unexpected or ["none"]:
        print(f"  {u}")
    live = sum(st["live"] for st in stats)
    bad = crashed or not stats or live != 0 or server.rc != 0
    if bad:
        print(f"FAIL: {crashed or ''} live calls at exit={live} stats lines={len(stats)} "
              f"rc={server.rc} (stderr: {server.err_path})")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "part":
        part_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(driver_main())
