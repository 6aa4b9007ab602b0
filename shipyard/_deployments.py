"""`Client` methods of deployments: deploy, roll out, roll back, read, and predict."""

import json
from collections.abc import Mapping
from typing import Any

from shipyard._base import ClientBase, segment
from shipyard.schemas import Batching, Deployment, Page, Revision


def _split(rows: Any) -> dict[str, Any]:
    """`rows` (a pandas DataFrame, or a list of records) as MLflow's ``dataframe_split``."""
    if hasattr(rows, "to_json") and hasattr(rows, "columns"):
        # pandas writes numpy scalars, datetimes and NaN (as null) as JSON itself.
        split = json.loads(rows.to_json(orient="split", index=False, date_format="iso"))
        return {"columns": [str(c) for c in split["columns"]], "data": split["data"]}
    records = list(rows)
    if not all(isinstance(record, Mapping) for record in records):
        raise TypeError("predict takes a pandas DataFrame or a list of records (dicts of column values)")
    columns: list[str] = []
    for record in records:
        columns.extend(str(key) for key in record if str(key) not in columns)
    return {"columns": columns, "data": [[record.get(column) for column in columns] for record in records]}


class DeploymentsMixin(ClientBase):
    def deploy(
        self,
        name: str,
        model: str,
        version: int | None = None,
        alias: str | None = None,
        *,
        track_alias: str | None = None,
        description: str = "",
        reason: str = "",
        batching: Batching | None = None,
    ) -> Deployment:
        """Create a deployment serving one READY version of `model` with all its traffic.

        Args:
            name: the deployment's name (letters, digits and ``_.-``).
            model: the registered model.
            version: the version number; or
            alias: the alias whose version to deploy (exactly one of the two).
            track_alias: the alias this deployment follows.
            description: free text.
            reason: why, kept with revision 1.
            batching: micro-batching of concurrent predicts; off when None.

        Returns:
            The new `Deployment` (revision 1).

        Raises:
            DeploymentConflict: a deployment has this name already.
            ModelNotFound, ModelVersionNotFound, AliasNotFound: nothing to deploy by that name.
            InvalidState: the version is not READY.
            WarmupFailed: the version did not load or did not predict its own input example.
            PickleRefused: a pickle version, without an admin and the server's pickle setting.
        """
        if (version is None) == (alias is None):
            raise ValueError("give exactly one of version and alias")
        body: dict[str, Any] = {"name": name, "model": model, "description": description, "reason": reason}
        if version is not None:
            body["version"] = int(version)
        if alias is not None:
            body["alias"] = alias
        if track_alias is not None:
            body["track_alias"] = track_alias
        if batching is not None:
            body["batching"] = batching.to_json()
        return Deployment.from_json(self._request("POST", "/deployments", json=body).json())

    def set_batching(self, name: str, batching: Batching | None) -> Deployment:
        """Turn micro-batching of the deployment's concurrent predicts on (or change it), or off
        with None. The routes stay: no revision is written.

        Returns:
            The `Deployment` with its new `batching`.

        Raises:
            DeploymentNotFound: no deployment has this name.
            DeploymentConflict: another change of the deployment is in progress.
        """
        body = {"batching": batching.to_json() if batching is not None else None}
        return Deployment.from_json(self._request("PATCH", f"/deployments/{segment(name)}", json=body).json())

    def rollout(self, name: str, version: int, strategy: str = "direct", *, reason: str = "") -> Deployment:
        """Roll `version` of the deployment's model out (``direct``: all the traffic at once, once warmed up).

        Returns:
            The `Deployment` at its new revision.

        Raises:
            StrategyNotAvailable: a strategy other than ``direct`` (not available yet).
            DeploymentConflict: it serves this version already, or another change got there first.
            WarmupFailed: the version did not warm up; the current revision keeps serving.
            DeploymentNotFound, ModelVersionNotFound, InvalidState: as for `deploy`.
        """
        body = {"strategy": strategy, "version": int(version), "reason": reason}
        return Deployment.from_json(self._request("POST", f"/deployments/{segment(name)}/rollouts", json=body).json())

    def rollback(self, name: str, *, reason: str = "") -> Deployment:
        """Back to the routes of the revision before the current one, as a new revision.

        Raises:
            InvalidState: there is no earlier revision.
            DeploymentNotFound, WarmupFailed, DeploymentConflict: as for `rollout`.
        """
        response = self._request("POST", f"/deployments/{segment(name)}/rollback", json={"reason": reason})
        return Deployment.from_json(response.json())

    def promote(self, name: str) -> Deployment:
        """Promote the rollout in progress.

        Raises:
            NothingToPromote: no rollout is in progress (a direct rollout is complete at once).
        """
        return Deployment.from_json(self._request("POST", f"/deployments/{segment(name)}/promote").json())

    def get_deployment(self, name: str) -> Deployment:
        """The deployment's current revision and routes.

        Raises:
            DeploymentNotFound: no deployment has this name.
        """
        return Deployment.from_json(self._request("GET", f"/deployments/{segment(name)}").json())

    def list_deployments(self, *, max_results: int | None = None, page_token: str | None = None) -> Page[Deployment]:
        """List deployments, oldest first, following the server's pages.

        Returns:
            A `Page` of `Deployment`.
        """
        items, token = self._paginate("/deployments", "deployments", {}, max_results, page_token)
        return Page([Deployment.from_json(item) for item in items], token)

    def list_revisions(
        self, name: str, *, max_results: int | None = None, page_token: str | None = None
    ) -> Page[Revision]:
        """A deployment's revisions, newest first.

        Raises:
            DeploymentNotFound: no deployment has this name.
        """
        items, token = self._paginate(
            f"/deployments/{segment(name)}/revisions", "revisions", {}, max_results, page_token
        )
        return Page([Revision.from_json(item) for item in items], token)

    def predict(self, name: str, rows: Any, return_proba: bool = False) -> dict[str, Any]:
        """Predict with a deployment.

        Args:
            name: the deployment.
            rows: a pandas DataFrame, or a list of records (dicts of column values); sent as
                ``dataframe_split``.
            return_proba: ask for class probabilities too.

        Returns:
            The server's answer as a dict: ``predictions`` (one per row), ``probabilities`` (with
            `return_proba`), ``model``, ``version`` (the version that answered), ``deployment``,
            ``revision`` and ``prediction_ids``.

        Raises:
            DeploymentNotFound: no deployment has this name.
            PredictionInputInvalid: the rows do not fit the model's signature (``problem["column"]``).
            ModelError: the model raised on these rows.
            PayloadTooLarge: more rows than the server takes at once.
        """
        body: dict[str, Any] = {"dataframe_split": _split(rows)}
        if return_proba:
            body["return_proba"] = True
        result: dict[str, Any] = self._request("POST", f"/deployments/{segment(name)}/predict", json=body).json()
        return result
