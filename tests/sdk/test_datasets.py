"""Datasets from the SDK end to end: `log_dataset` from a DataFrame and from a file, `load_dataset`,
and `run.use_dataset`, which puts the dataset version in the lineage of the run's model."""

import uuid
from pathlib import Path

import pandas as pd
import pytest

import shipyard
from shipyard import errors
from tests.sdk.churn import churn_frame, fitted_pipeline


@pytest.fixture
def dataset_name() -> str:
    return f"churn-data-{uuid.uuid4().hex[:10]}"


def test_log_and_load_a_dataframe_and_a_csv(fluent: shipyard.Client, dataset_name: str, tmp_path: Path) -> None:
    features, label = churn_frame(rows=50)
    frame = features.assign(churned=label)

    first = shipyard.log_dataset(frame, dataset_name)
    assert (first.reference, first.created, first.rows) == (f"{dataset_name}@1", True, 50)
    assert [column["name"] for column in first.columns] == ["tenure", "monthly", "plan", "churned"]
    again = shipyard.log_dataset(frame, dataset_name)
    assert (again.version, again.created) == (1, False), "the same bytes are the same version"
    pd.testing.assert_frame_equal(shipyard.load_dataset(f"{dataset_name}@1"), frame)

    csv = tmp_path / "holdout.csv"
    frame.head(30).to_csv(csv, index=False)
    second = shipyard.log_dataset(csv, dataset_name)
    assert (second.version, second.source_format, second.rows) == (2, "csv", 30)
    loaded = shipyard.load_dataset(f"{dataset_name}@latest")
    pd.testing.assert_frame_equal(loaded, pd.read_csv(csv), check_dtype=False)
    assert loaded["tenure"].tolist() == frame["tenure"].head(30).tolist()

    listed = fluent.list_dataset_versions(dataset_name)
    assert sorted(v.reference for v in listed) == [f"{dataset_name}@1", f"{dataset_name}@2"]
    assert fluent.get_dataset(dataset_name).latest_version == 2
    assert fluent.get_dataset_version(dataset_name).version == 2
    assert dataset_name in {d.name for d in fluent.list_datasets()}


def test_bad_inputs_are_refused(fluent: shipyard.Client, dataset_name: str, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        shipyard.log_dataset(notes, dataset_name)
    with pytest.raises(FileNotFoundError):
        shipyard.log_dataset(tmp_path / "missing.csv", dataset_name)
    with pytest.raises(errors.DatasetNotFound):
        shipyard.load_dataset(f"{dataset_name}@1")
    with pytest.raises(ValueError, match="dataset reference"):
        shipyard.load_dataset(f"{dataset_name}@first")


def test_use_dataset_puts_the_version_in_the_model_lineage(
    fluent: shipyard.Client, experiment_name: str, dataset_name: str
) -> None:
    features, label = churn_frame(rows=60)
    shipyard.log_dataset(features.assign(churned=label), dataset_name)
    shipyard.log_dataset(features.assign(churned=label).head(40), dataset_name)
    model_name = f"lineage-{uuid.uuid4().hex[:8]}"

    with shipyard.start_run(experiment_name) as run:
        training = shipyard.load_dataset(f"{dataset_name}@2")
        link = run.use_dataset(f"{dataset_name}@latest")
        assert (link.dataset, link.version, link.context) == (dataset_name, 2, "training")
        run.use_dataset(f"{dataset_name}@1", context="holdout")
        pipeline = fitted_pipeline(training.drop(columns="churned"), training["churned"])
        example = training.drop(columns="churned").head(5)
        version = run.log_model(pipeline, input_example=example, register_as=model_name)

    assert version is not None
    lineage = fluent.get_model_lineage(model_name, version.version)
    assert lineage.source_run is not None
    assert lineage.source_run.id == run.id
    assert lineage.experiment is not None
    assert lineage.experiment["name"] == experiment_name
    assert {(d.reference, d.context) for d in lineage.datasets} == {
        (f"{dataset_name}@2", "training"),
        (f"{dataset_name}@1", "holdout"),
    }
    assert all(d.digest for d in lineage.datasets)
