#!/usr/bin/python3
"""Reads the JSON report test_load_summary writes (--write) with Python's json and checks it
has ghz's report fields with ghz's types: integers for counts and nanosecond durations (Go's
encoding/json refuses anything else for them), floats for rps, marks and frequencies.

    check_summary.py TEST_LOAD_SUMMARY_EXE
"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        subprocess.run([exe, "--write", path], check=True)
        with open(path) as f:
            rep = json.load(f)
    errors = []

    def want(obj, key, types, where="report"):
        if key not in obj:
            errors.append(f"{where}: no {key!r}")
        elif not isinstance(obj[key], types) or isinstance(obj[key], bool) != (types is bool):
            errors.append(f"{where}.{key}: {type(obj[key]).__name__} {obj[key]!r}")

    for k in ("count", "total", "average", "fastest", "slowest"):
        want(rep, k, int)
    want(rep, "rps", (int, float))
    want(rep, "date", str)
    want(rep, "options", dict)
    want(rep, "statusCodeDistribution", dict)
    want(rep, "errorDistribution", dict)
    want(rep, "histogram", list)
    want(rep, "latencyDistribution", list)
    if errors:
        sys.exit("\n".join(errors))
    for i, b in enumerate(rep["histogram"]):
        want(b, "mark", (int, float), f"histogram[{i}]")
        want(b, "count", int, f"histogram[{i}]")
        want(b, "frequency", (int, float), f"histogram[{i}]")
    for i, d in enumerate(rep["latencyDistribution"]):
        want(d, "percentage", int, f"latencyDistribution[{i}]")
        want(d, "latency", int, f"latencyDistribution[{i}]")
    for k, v in list(rep["statusCodeDistribution"].items()) + list(rep["errorDistribution"].items()):
        if not isinstance(v, int):
            errors.append(f"distribution {k!r}: {v!r}")
    opts = rep["options"]
    want(opts, "insecure", bool, "options")
    want(opts, "binary", bool, "options")
    want(opts, "CPUs", int, "options")
    want(opts, "concurrency", int, "options")
    # The figures hang together as in ghz: rps = count / total, the histogram holds every OK
    # call, the percentiles rise, fastest <= average <= slowest.
    if abs(rep["rps"] - rep["count"] / (rep["total"] / 1e9)) > 1e-6 * rep["rps"]:
        errors.append(f"rps {rep['rps']} != count / total")
    if sum(b["count"] for b in rep["histogram"]) != rep["statusCodeDistribution"].get("OK"):
        errors.append("histogram counts do not add up to the OK calls")
    if abs(sum(b["frequency"] for b in rep["histogram"]) - 1) > 1e-9:
        errors.append("frequencies do not add up to 1")
    lats = [d["latency"] for d in rep["latencyDistribution"]]
    if lats != sorted(lats) or [d["percentage"] for d in rep["latencyDistribution"]] != [
            10, 25, 50, 75, 90, 95, 99]:
        errors.append(f"latencyDistribution {rep['latencyDistribution']}")
    if not rep["fastest"] <= rep["average"] <= rep["slowest"]:
        errors.append("fastest <= average <= slowest does not hold")
    if abs(rep["histogram"][-1]["mark"] - rep["slowest"] / 1e9) > 1e-12:
        errors.append("the last mark is not the slowest call (seconds)")
    if errors:
        sys.exit("\n".join(errors))
    print("ghz report fields and types: ok")


if __name__ == "__main__":
    main()
