"""`Client` methods for datasets: upload a CSV/Parquet file or a DataFrame as a version, read
versions back as DataFrames, and link runs to the versions they read (lineage)."""

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard._base import ClientBase, segment
from shipyard.schemas import Dataset, DatasetLink, DatasetVersion, Page

if TYPE_CHECKING:
    import pandas as pd

CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
MEDIA_TYPES = {".csv": CSV, ".parquet": PARQUET, ".pq": PARQUET}


def parse_dataset_ref(ref: str) -> tuple[str, str]:
    """``churn-data@2`` -> ("churn-data", "2"); ``churn-data`` and ``churn-data@latest`` -> (…, "latest")."""
    name, _, version = ref.strip().partition("@")
    if not name or (version and version != "latest" and not version.isdigit()):
        raise ValueError(f"{ref!r} is not a dataset reference like NAME@3 or NAME@latest")
    return name, version or "latest"


class DatasetsMixin(ClientBase):
    def log_dataset(self, data: "pd.DataFrame | str | os.PathLike[str]", name: str) -> DatasetVersion:
        """Upload a DataFrame, or a ``.csv`` / ``.parquet`` file, as the next version of `name`.

        The dataset is created on its first upload. Versions are content-addressed: the same
        bytes again give back the existing version (``created`` False) instead of a new one.
        A DataFrame is sent as Parquet, so its column types come back as they were; its index
        is not kept (``reset_index()`` first to keep it).

        Args:
            data: a `pandas.DataFrame` or the path of a CSV or Parquet file (streamed from disk).
            name: the dataset's name.

        Returns:
            The `DatasetVersion`, with its schema and profile.

        Raises:
            ValueError: a file that is not ``.csv``, ``.parquet`` or ``.pq``.
            FileNotFoundError: the path is not a file.
            InvalidInput: the server cannot read the file.
            PayloadTooLarge: the file exceeds the server's upload limit.
        """
        if isinstance(data, str | os.PathLike):
            source = Path(data)
            media = MEDIA_TYPES.get(source.suffix.lower())
            if media is None:
                raise ValueError(f"{source.name}: upload a .csv or .parquet file")
            if not source.is_file():
                raise FileNotFoundError(f"not a file: {source}")
            return self._upload_dataset(name, source, media)
        with tempfile.TemporaryDirectory(prefix="shipyard-dataset-") as tmp:
            source = Path(tmp) / "data.parquet"
            data.to_parquet(source, index=False)
            return self._upload_dataset(name, source, PARQUET)

    def _upload_dataset(self, name: str, source: Path, media: str) -> DatasetVersion:
        response = self._upload("POST", f"/datasets/{segment(name)}/versions", source, media)
        return DatasetVersion.from_json(response.json(), created=response.status_code == 201)

    def get_dataset(self, name: str) -> Dataset:
        """Fetch a dataset.

        Raises:
            DatasetNotFound: no dataset has this name.
        """
        return Dataset.from_json(self._request("GET", f"/datasets/{segment(name)}").json())

    def list_datasets(self, *, max_results: int | None = None, page_token: str | None = None) -> Page[Dataset]:
        """List datasets, oldest first.

        Args:
            max_results: stop after this many; None fetches them all.
            page_token: continue from an earlier `Page.next_page_token`.
        """
        items, token = self._paginate("/datasets", "datasets", {}, max_results, page_token)
        return Page([Dataset.from_json(item) for item in items], token)

    def list_dataset_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset.

        Raises:
            DatasetNotFound: no dataset has this name.
        """
        data = self._request("GET", f"/datasets/{segment(name)}/versions").json()
        return [DatasetVersion.from_json(item) for item in data["versions"]]

    def get_dataset_version(self, ref: str) -> DatasetVersion:
        """Fetch a dataset version by reference.

        Args:
            ref: ``NAME@3``, ``NAME@latest`` or ``NAME`` (the latest).

        Raises:
            ValueError: `ref` is malformed.
            DatasetNotFound: no such dataset or version.
        """
        name, version = parse_dataset_ref(ref)
        return DatasetVersion.from_json(
            self._request("GET", f"/datasets/{segment(name)}/versions/{segment(version)}").json()
        )

    def download_dataset(self, ref: str, dest: str | os.PathLike[str]) -> Path:
        """Download a dataset version as a Parquet file, streamed to disk.

        Args:
            ref: ``NAME@3``, ``NAME@latest`` or ``NAME``.
            dest: the file to write (it only appears once complete).

        Returns:
            The path written.

        Raises:
            ValueError: `ref` is malformed.
            DatasetNotFound: no such dataset or version.
        """
        name, version = parse_dataset_ref(ref)
        return self._download(f"/datasets/{segment(name)}/versions/{segment(version)}/download", Path(dest))

    def load_dataset(self, ref: str) -> "pd.DataFrame":
        """A dataset version as a pandas DataFrame.

        Args:
            ref: ``NAME@3``, ``NAME@latest`` or ``NAME``.

        Raises:
            ValueError: `ref` is malformed.
            DatasetNotFound: no such dataset or version.
        """
        # Imported here: pandas costs every CLI call and `import shipyard` half a second (see shipyard.models).
        import pandas as pd

        with tempfile.TemporaryDirectory(prefix="shipyard-dataset-") as tmp:
            path = self.download_dataset(ref, Path(tmp) / "data.parquet")
            return pd.read_parquet(path)

    def link_dataset(self, run_id: str, ref: str, context: str = "training") -> DatasetLink:
        """Record that a run read a dataset version, so the models it registers show it in their lineage.

        Args:
            run_id: the run.
            ref: ``NAME@3``, ``NAME@latest`` (resolved now and recorded by number) or ``NAME``.
            context: how the run used it: ``training``, ``evaluation``, ``holdout`` …
                (lower case letters and ``_``).

        Returns:
            The `DatasetLink`, with the version number and digest recorded.

        Raises:
            RunNotFound: no run has this id.
            DatasetNotFound: no such dataset or version.
        """
        body = {"dataset": ref, "context": context}
        return DatasetLink.from_json(self._request("POST", f"/runs/{segment(run_id)}/datasets", json=body).json())
