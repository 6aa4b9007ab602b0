"""Time single metric-logging calls through an SDK against a running server; prints JSON.

Run by ``bench/tracking.py`` with the interpreter that has the SDK: the repo venv for
Shipyard, ``bench/.venv-mlflow`` for MLflow. It uses only the standard library besides
that SDK, so it runs in either venv, and it prints one JSON line, in milliseconds:
``{"sdk": ..., "call_ms": [...], "call_flush_ms": [...] | null}``.
"""

from __future__ import annotations

import argparse
import json
import random
import time


def time_shipyard(url: str, token: str, calls: int, warmup: int) -> dict[str, object]:
    """``run.log_metric`` buffers; ``run.flush`` sends the buffer. Both are timed: the
    buffered call is what a training loop pays, call + flush is one real round trip."""
    import shipyard  # only the venv that runs this script has the SDK

    shipyard.set_tracking(url=url, token=token)
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
    return {
        "sdk": f"shipyard {getattr(shipyard, '__version__', '?')}",
        "call_ms": call_ms,
        "call_flush_ms": call_flush_ms,
        "end_error": end_error,
    }


def time_mlflow(url: str, calls: int, warmup: int) -> dict[str, object]:
    """``mlflow.log_metric`` is synchronous by default: each call is one HTTP request."""
    import mlflow  # only the venv that runs this script has the SDK

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("bench-sdk")
    rng = random.Random(7)
    call_ms: list[float] = []
    with mlflow.start_run():
        for i in range(warmup + calls):
            t0 = time.perf_counter()
            mlflow.log_metric("loss", rng.random(), step=i)
            elapsed = (time.perf_counter() - t0) * 1000
            if i >= warmup:
                call_ms.append(elapsed)
    return {"sdk": f"mlflow {mlflow.__version__}", "call_ms": call_ms, "call_flush_ms": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sdk", choices=["shipyard", "mlflow"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    if args.sdk == "shipyard":
        result = time_shipyard(args.url, args.token, args.calls, args.warmup)
    else:
        result = time_mlflow(args.url, args.calls, args.warmup)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
