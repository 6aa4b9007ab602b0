"""Runs as a pandas DataFrame: one row per run, ``metrics.<k>``, ``params.<k>`` and ``tags.<k>`` columns."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shipyard.schemas import Run

if TYPE_CHECKING:
    import pandas as pd

BASE_COLUMNS = ["run_id", "experiment_id", "status", "start_time", "end_time", "name"]


def runs_to_frame(runs: Sequence[Run]) -> "pd.DataFrame":
    """A DataFrame of `runs` in their order; times are UTC datetimes, missing values NaN/None."""
    # Imported on use, like numpy and skops in shipyard.models: pandas alone adds half a second
    # to `import shipyard` and to every CLI call, which never need it.
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.id,
            "experiment_id": run.experiment_id,
            "status": run.status,
            "start_time": run.start_time,
            "end_time": run.end_time,
            "name": run.name,
        }
        row.update({f"metrics.{k}": v for k, v in run.metrics.items()})
        row.update({f"params.{k}": v for k, v in run.params.items()})
        row.update({f"tags.{k}": v for k, v in run.tags.items()})
        rows.append(row)
    extra = sorted({column for row in rows for column in row} - set(BASE_COLUMNS))
    frame = pd.DataFrame(rows, columns=BASE_COLUMNS + extra)
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    for column in extra:
        if column.startswith("metrics."):
            frame[column] = frame[column].astype("float64")
    return frame
