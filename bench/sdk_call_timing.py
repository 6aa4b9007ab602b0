"""Time metric logging through an SDK against a running server; prints JSON.

Run by ``bench/tracking.py`` with the interpreter that has the SDK: the repo venv for
Shipyard, ``bench/.venv-mlflow`` for MLflow. It uses only the standard library besides
that SDK, so it runs in either venv, and it prints one JSON line (times in milliseconds,
the loop in seconds): ``{"sdk": ..., "call_ms": [...], "call_flush_ms": [...] | null,
"start_run_ms": [...], "loop_s": ... | null, "loop_points": ...}``.

Two measurements, each in its own run:

- single calls: ``--calls`` calls of ``log_metric``, each timed alone after ``--warmup``;
- start_run: ten ``start_run`` calls (each run ended, untimed, before the next);
- the loop: ``--loop`` calls of ``log_metric`` in a row, timed from the first call until the
  final flush has returned (every point is on the server), then the stored history is counted,
  untimed, and must hold every point.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

LOOP_KEY = "loop"
START_RUNS = 10  # start_run calls timed (the run ended untimed after each)


def time_shipyard(url: str, token: str, calls: int, warmup: int, loop: int) -> dict[str, object]:
    """``run.log_metric`` buffers; ``run.flush`` sends the buffer. Both are timed: the
    buffered call is what a training loop pays, call + flush is one real round trip."""
    import shipyard  # only the venv that runs this script has the SDK

    client = shipyard.set_tracking(url=url, token=token)
    rng = random.Random(7)
    call_ms: list[float] = []
    call_flush_ms: list[float] = []
    end_error = None
    try:
        with shipyard.start_run(experiment="bench-sdk") as run:
            for i in range(warmup + calls):
                t0 = time.perf_counter()
                run.log_metric("loss", rng.random(), step=i)
                t1 = time.perf_counter()
                run.flush()
                t2 = time.perf_counter()
                if i >= warmup:
                    call_ms.append((t1 - t0) * 1000)
                    call_flush_ms.append((t2 - t0) * 1000)
    except Exception as exc:
        # Ending the run is outside the timed loop: keep complete timings, report the error.
        if len(call_ms) < calls:
            raise
        end_error = f"{type(exc).__name__}: {exc}"
    start_ms = []
    for _ in range(START_RUNS):
        t0 = time.perf_counter()
        started = shipyard.start_run(experiment="bench-sdk-start")
        start_ms.append((time.perf_counter() - t0) * 1000)
        started.end()
    loop_s = None
    loop_points = 0
    if loop:
        values = [rng.random() for _ in range(loop)]
        with shipyard.start_run(experiment="bench-sdk-loop") as run:
            t0 = time.perf_counter()
            for i, value in enumerate(values):
                run.log_metric(LOOP_KEY, value, step=i)
            run.flush()
            loop_s = time.perf_counter() - t0
        loop_points = len(client.get_metric_history(run.id, LOOP_KEY))
    return {
        "sdk": f"shipyard {getattr(shipyard, '__version__', '?')}",
        "call_ms": call_ms,
        "call_flush_ms": call_flush_ms,
        "end_error": end_error,
        "start_run_ms": start_ms,
        "loop_s": loop_s,
        "loop_points": loop_points,
    }


def time_mlflow(url: str, calls: int, warmup: int, loop: int) -> dict[str, object]:
    """``mlflow.log_metric`` is one synchronous request per call by default; with
    ``MLFLOW_ENABLE_ASYNC_LOGGING=true`` (set by the caller) it queues the point for MLflow's
    background batching thread, and ``mlflow.flush_async_logging()`` waits until it is sent."""
    import mlflow  # only the venv that runs this script has the SDK

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("bench-sdk")
    asynchronous = os.environ.get("MLFLOW_ENABLE_ASYNC_LOGGING", "").lower() == "true"
    rng = random.Random(7)
    call_ms: list[float] = []
    with mlflow.start_run():
        for i in range(warmup + calls):
            t0 = time.perf_counter()
            mlflow.log_metric("loss", rng.random(), step=i)
            elapsed = (time.perf_counter() - t0) * 1000
            if i >= warmup:
                call_ms.append(elapsed)
        if asynchronous:
            mlflow.flush_async_logging()
    start_ms = []
    for _ in range(START_RUNS):
        t0 = time.perf_counter()
        mlflow.start_run()
        start_ms.append((time.perf_counter() - t0) * 1000)
        mlflow.end_run()
    loop_s = None
    loop_points = 0
    if loop:
        values = [rng.random() for _ in range(loop)]
        with mlflow.start_run() as run:
            t0 = time.perf_counter()
            for i, value in enumerate(values):
                mlflow.log_metric(LOOP_KEY, value, step=i)
            if asynchronous:
                mlflow.flush_async_logging()
            loop_s = time.perf_counter() - t0
        loop_points = len(mlflow.MlflowClient().get_metric_history(run.info.run_id, LOOP_KEY))
    mode = "async" if asynchronous else "sync"
    return {
        "sdk": f"mlflow {mlflow.__version__} ({mode} logging)",
        "call_ms": call_ms,
        "call_flush_ms": None,
        "start_run_ms": start_ms,
        "loop_s": loop_s,
        "loop_points": loop_points,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sdk", choices=["shipyard", "mlflow"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--loop", type=int, default=0, help="also time this many calls in a row, final flush included")
    args = parser.parse_args()
    if args.sdk == "shipyard":
        result = time_shipyard(args.url, args.token, args.calls, args.warmup, args.loop)
    else:
        result = time_mlflow(args.url, args.calls, args.warmup, args.loop)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
