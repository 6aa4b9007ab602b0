"""Closed-loop HTTP load for bench/serving.py, run in a process of its own so the client's CPU is
not the server's: N keep-alive connections on one asyncio loop, each sending one pre-encoded
request, reading the whole answer, and sending the next.

It speaks just enough HTTP/1.1 (Content-Length or chunked answers) to stay cheap: httpx costs
more CPU per request than the fastest server under test, and on a small machine the client would
set the pace. It reads the server's CPU time (every process in its process group, from /proc)
right before and after the measured window, so warm-up requests are not counted.

    python bench/_loadgen.py --port P --path /api/v1/... --body-file F --header 'K: V' \
        --concurrency 8 --duration 5 --warmup 1 --server-pgid PID

prints one JSON line: requests, errors, elapsed, latency percentiles, server and client CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in process group `pgid` (a server and the
    workers it forked), from /proc/<pid>/stat."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name (field 2) may hold spaces; the fields after its ')' are fixed.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:  # field 5, pgrp
            total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / _CLOCK_TICKS


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Failure(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = None
    chunked = False
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        return status, await reader.readexactly(length)
    if not chunked:
        raise _Failure("an answer with neither Content-Length nor chunked encoding")
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _connection(
    host: str, port: int, request: bytes, measure_from: float, stop_at: float, latencies: list[float], state: dict
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                return
            writer.write(request)
            status, body = await _read_response(reader)
            finished = time.perf_counter()
            if status != 200:
                state["errors"] += 1
                if state["first_error"] is None:
                    state["first_error"] = f"HTTP {status}: {body[:300].decode(errors='replace')}"
                continue
            if started >= measure_from and finished <= stop_at:
                latencies.append(finished - started)
    finally:
        writer.close()


async def _run(args: argparse.Namespace) -> dict:
    body = Path(args.body_file).read_bytes()
    head = [
        f"POST {args.path} HTTP/1.1",
        f"Host: {args.host}:{args.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *args.header,
    ]
    request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    start = time.perf_counter()
    measure_from = start + args.warmup
    stop_at = measure_from + args.duration
    latencies: list[float] = []
    state: dict = {"errors": 0, "first_error": None}
    tasks = [
        asyncio.create_task(_connection(args.host, args.port, request, measure_from, stop_at, latencies, state))
        for _ in range(args.concurrency)
    ]
    await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
    server_cpu_before = group_cpu_seconds(args.server_pgid)
    client_cpu_before = _own_cpu_seconds()
    await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
    server_cpu = group_cpu_seconds(args.server_pgid) - server_cpu_before
    client_cpu = _own_cpu_seconds() - client_cpu_before
    await asyncio.gather(*tasks)
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": state["errors"],
        "first_error": state["first_error"],
        "elapsed": args.duration,
        "p50_ms": _quantile(latencies, 0.50) * 1000,
        "p99_ms": _quantile(latencies, 0.99) * 1000,
        "server_cpu_seconds": server_cpu,
        "client_cpu_seconds": client_cpu,
    }


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--server-pgid", type=int, required=True)
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
