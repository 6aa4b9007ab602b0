"""The SDK's uploads carry their Content-Digest, refuse to overwrite on request, and a model
version the registry refuses leaves no empty registered model (the app in this process)."""

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import shipyard
from shipyard import errors


def doubled(values: Any) -> Any:
    """A function of this module: outside the server's trusted skops types."""
    return values * 2


@pytest.fixture
def recorded(
    app: FastAPI, client: TestClient, admin_token: str
) -> Iterator[tuple[shipyard.Client, list[httpx.Request]]]:
    """An SDK client on the in-process app, with every request it sends kept for inspection."""
    sent: list[httpx.Request] = []
    # Not entered as a context manager: the session's `client` fixture already runs the app's lifespan.
    http = TestClient(app)
    http.event_hooks = {"request": [sent.append], "response": []}
    yield shipyard.Client(token=admin_token, http_client=http), sent
    http.close()


def test_every_upload_declares_the_sha_256_of_its_body(
    recorded: tuple[shipyard.Client, list[httpx.Request]], unique: str, tmp_path: Path
) -> None:
    sdk, sent = recorded
    run = sdk.create_run(sdk.get_or_create_experiment(f"digest-{unique}").id)
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x01\x02" * 50_000)
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})

    sdk.log_artifact(run.id, source)
    sdk.log_dataset(frame, f"digest-{unique}")
    sdk.log_model(run.id, LogisticRegression().fit(frame[["x"]], frame["y"]), input_example=frame[["x"]])

    uploads = [request for request in sent if request.method == "PUT" or request.url.path.endswith("/versions")]
    assert len(uploads) == 4, [str(request.url) for request in uploads]  # artifact, dataset, model.json, model.skops
    for request in uploads:
        body = request.read()
        expected = base64.b64encode(hashlib.sha256(body).digest()).decode()
        assert request.headers["content-digest"] == f"sha-256=:{expected}:", request.url


def test_log_artifact_without_overwrite_keeps_the_first(
    recorded: tuple[shipyard.Client, list[httpx.Request]], unique: str, tmp_path: Path
) -> None:
    sdk, _ = recorded
    run = sdk.create_run(sdk.get_or_create_experiment(f"overwrite-{unique}").id)
    source = tmp_path / "notes.txt"
    source.write_text("first")
    sdk.log_artifact(run.id, source, overwrite=False)
    source.write_text("second")

    with pytest.raises(errors.ArtifactExists) as refused:
        sdk.log_artifact(run.id, source, overwrite=False)

    assert refused.value.status == 412
    assert sdk.download_artifact(run.id, "notes.txt", tmp_path / "copy.txt").read_text() == "first"


def test_a_refused_log_model_leaves_no_registered_model(
    recorded: tuple[shipyard.Client, list[httpx.Request]], unique: str
) -> None:
    sdk, _ = recorded
    run = sdk.create_run(sdk.get_or_create_experiment(f"refused-{unique}").id)
    frame = pd.DataFrame({"x": np.arange(6, dtype=float)})
    model = make_pipeline(FunctionTransformer(doubled), LogisticRegression()).fit(frame, [0, 1, 0, 1, 0, 1])

    with pytest.raises(errors.UntrustedModel):
        sdk.log_model(run.id, model, input_example=frame, register_as=f"refused-{unique}")

    with pytest.raises(errors.ModelNotFound):
        sdk.get_model(f"refused-{unique}")
