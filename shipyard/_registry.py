"""`Client` methods of the model registry: registered models, versions, aliases, lineage, and
`log_model` / `load_model`, which move an estimator to and from the registry safely."""

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from shipyard._base import ClientBase, join_path, relpath, segment, text
from shipyard.errors import ModelLoadError, ModelNotReady, ModelRegistrationFailed
from shipyard.models import (
    PICKLE_FLAVOR,
    extract_model_archive,
    load_model_folder,
    load_pickle_folder,
    parse_model_uri,
    save_model,
    verify_files,
)
from shipyard.schemas import AliasChange, Lineage, ModelVersion, Page, RegisteredModel, StoredArtifact

READY = "READY"


def _tags(tags: Mapping[str, object] | None) -> dict[str, str]:
    return {k: text(v) for k, v in (tags or {}).items()}


class RegistryMixin(ClientBase):
    # -- registered models ------------------------------------------------------------------

    def create_model(
        self, name: str, *, description: str = "", model_card: str = "", tags: Mapping[str, object] | None = None
    ) -> RegisteredModel:
        """Register a model name (its versions come later).

        Args:
            name: letters, digits and ``_.-``, up to 128, starting with a letter or digit.
            description: free text.
            model_card: Markdown: intended use, limitations, owners.
            tags: string tags.

        Returns:
            The new `RegisteredModel`.

        Raises:
            ModelConflict: a model already has this name.
            Forbidden: the token's role is below editor.
        """
        body = {"name": name, "description": description, "model_card": model_card, "tags": _tags(tags)}
        return RegisteredModel.from_json(self._request("POST", "/models", json=body).json())

    def get_model(self, name: str) -> RegisteredModel:
        """Fetch a registered model with its aliases.

        Raises:
            ModelNotFound: no model has this name.
        """
        return RegisteredModel.from_json(self._request("GET", f"/models/{segment(name)}").json())

    def list_models(
        self,
        *,
        name_like: str | None = None,
        tags: Mapping[str, object] | None = None,
        lifecycle_stage: str = "active",
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        """List registered models, oldest first, following the server's pages.

        Args:
            name_like: a SQL LIKE pattern such as ``churn%``.
            tags: only models with all of these tags.
            lifecycle_stage: ``active`` (default), ``archived`` or ``all``.
            max_results: stop after this many; None fetches them all.
            page_token: continue from an earlier `Page.next_page_token`.

        Returns:
            A `Page` of `RegisteredModel`.
        """
        params = {
            "name_like": name_like,
            "tag": [f"{k}={v}" for k, v in _tags(tags).items()] or None,
            "lifecycle_stage": lifecycle_stage,
        }
        items, token = self._paginate("/models", "models", params, max_results, page_token)
        return Page([RegisteredModel.from_json(item) for item in items], token)

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        model_card: str | None = None,
        tags: Mapping[str, object] | None = None,
        lifecycle_stage: str | None = None,
    ) -> RegisteredModel:
        """Change a model's description, model card, tags (replaced as a whole) or stage.

        Raises:
            ModelNotFound: no model has this name.
        """
        body: dict[str, Any] = {
            "description": description,
            "model_card": model_card,
            "lifecycle_stage": lifecycle_stage,
        }
        if tags is not None:
            body["tags"] = _tags(tags)
        body = {k: v for k, v in body.items() if v is not None}
        return RegisteredModel.from_json(self._request("PATCH", f"/models/{segment(name)}", json=body).json())

    def archive_model(self, name: str) -> None:
        """Archive a model (versions and files are kept; ``update_model(name, lifecycle_stage="active")`` restores it).

        Raises:
            ModelNotFound: no model has this name.
        """
        self._request("DELETE", f"/models/{segment(name)}")

    # -- versions ---------------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        run_id: str,
        path: str = "model",
        *,
        description: str = "",
        tags: Mapping[str, object] | None = None,
        create_model: bool = False,
    ) -> ModelVersion:
        """Register the model folder a run logged at `path` as the next version of `name`.

        The server checks the files (skops with trusted types only, a complete manifest); the
        version is READY when they pass and FAILED, with the reason in ``status_message``, when not.
        With `create_model`, a missing model is registered with the version, in one transaction:
        a version the server refuses leaves no empty model behind.

        Returns:
            The new `ModelVersion`, READY or FAILED.

        Raises:
            ModelNotFound: `name` is not registered and `create_model` is False.
            RunNotFound: no run has this id.
            ArtifactNotFound: the run has no files at `path`.
            UntrustedModel: the model file holds types outside the allow-list.
            PickleRefused: the folder holds a pickle/joblib file.
        """
        body = {
            "run_id": run_id,
            "path": path,
            "description": description,
            "tags": _tags(tags),
            "create_model": create_model,
        }
        return ModelVersion.from_json(self._request("POST", f"/models/{segment(name)}/versions", json=body).json())

    def register_model(
        self,
        run_id: str,
        name: str,
        path: str = "model",
        *,
        alias: str | None = None,
        description: str = "",
        tags: Mapping[str, object] | None = None,
    ) -> ModelVersion:
        """Register a run's logged model as a new version of `name` (created if missing), and
        point `alias` at it.

        Args:
            run_id: the run that logged the model.
            name: the registered model.
            path: the folder of the run's artifacts holding the model.
            alias: e.g. ``candidate``; protected aliases (``production``) need an admin.
            description: the version's description.
            tags: the version's tags.

        Returns:
            The READY `ModelVersion` (with `alias` among its aliases).

        Raises:
            ModelRegistrationFailed: the server marked the version FAILED; the detail says why.
            UntrustedModel, PickleRefused, ArtifactNotFound, RunNotFound: as for `create_model_version`.
            Forbidden: the alias is protected and the token is not an admin's.
        """
        version = self.create_model_version(name, run_id, path, description=description, tags=tags, create_model=True)
        if version.status != READY:
            raise ModelRegistrationFailed(
                f"version {version.version} of {name!r} is {version.status}: {version.status_message}",
                problem={"model": name, "version": version.version, "status_message": version.status_message},
            )
        if alias is not None:
            self.set_alias(name, alias, version.version)
            version = self.get_model_version(name, version.version)
        return version

    def get_model_version(self, name: str, version: int | str = "latest") -> ModelVersion:
        """Fetch a model version.

        Args:
            name: the registered model.
            version: a number, an alias, or ``latest`` (the newest READY version).

        Raises:
            ModelNotFound, ModelVersionNotFound, AliasNotFound: nothing matches.
        """
        data = self._request("GET", f"/models/{segment(name)}/versions/{segment(version)}").json()
        return ModelVersion.from_json(data)

    def list_model_versions(
        self,
        name: str,
        *,
        status: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        """A model's versions, newest first.

        Args:
            name: the registered model.
            status: only ``PENDING``, ``READY`` or ``FAILED`` versions.
            max_results: stop after this many; None fetches them all.
            page_token: continue from an earlier `Page.next_page_token`.

        Raises:
            ModelNotFound: no model has this name.
        """
        items, token = self._paginate(
            f"/models/{segment(name)}/versions", "versions", {"status": status}, max_results, page_token
        )
        return Page([ModelVersion.from_json(item) for item in items], token)

    def get_model_lineage(self, name: str, version: int | str = "latest") -> Lineage:
        """Where a version came from: run, experiment, dataset versions, and its evaluations.

        Raises:
            ModelNotFound, ModelVersionNotFound, AliasNotFound: nothing matches.
        """
        data = self._request("GET", f"/models/{segment(name)}/versions/{segment(version)}/lineage").json()
        return Lineage.from_json(data)

    # -- aliases ----------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int) -> AliasChange:
        """Point `alias` at a READY version (moved atomically from where it pointed before).

        Args:
            name: the registered model.
            alias: lower case letters, digits, ``_`` and ``-``, not all digits.
            version: the version number.

        Returns:
            The `AliasChange`, with the version it pointed at before.

        Raises:
            ModelVersionNotFound: no such version.
            InvalidState: the version is not READY.
            Forbidden: the alias is protected (``production`` by default) and the token is not an admin's.
        """
        body = {"version": int(version)}
        data = self._request("PUT", f"/models/{segment(name)}/aliases/{segment(alias)}", json=body).json()
        return AliasChange.from_json(data)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias (the version stays).

        Raises:
            AliasNotFound: the model has no such alias.
            Forbidden: the alias is protected and the token is not an admin's.
        """
        self._request("DELETE", f"/models/{segment(name)}/aliases/{segment(alias)}")

    # -- moving models ----------------------------------------------------------------------

    def log_model(
        self,
        run_id: str,
        model: Any,
        artifact_path: str = "model",
        *,
        input_example: Any,
        register_as: str | None = None,
        alias: str | None = None,
    ) -> ModelVersion | None:
        """Save a scikit-learn estimator with skops into a run's artifacts, and maybe register it.

        The signature (input columns and types, output type) is inferred from `input_example`
        and the estimator's predictions on it; the first rows are kept as the example.

        Args:
            run_id: the run.
            model: a fitted estimator or pipeline.
            artifact_path: the folder of the run's artifacts to write ``model.skops`` and ``model.json`` to.
            input_example: a few input rows (a DataFrame keeps the column names).
            register_as: register the folder as the next version of this model (created if missing).
            alias: point this alias at the new version (needs `register_as`).

        Returns:
            The READY `ModelVersion` when `register_as` is given, else None.

        Raises:
            ValueError: an empty `artifact_path`, or `alias` without `register_as`.
            ModelRegistrationFailed, UntrustedModel, Forbidden: as for `register_model`.
        """
        folder_name = artifact_path.strip("/")
        if not folder_name:
            raise ValueError("artifact_path must name a folder, e.g. 'model'")
        if alias is not None and register_as is None:
            raise ValueError("alias needs register_as: only a registered version can carry an alias")
        with tempfile.TemporaryDirectory(prefix="shipyard-model-") as tmp:
            folder = Path(tmp)
            save_model(model, folder, input_example)
            for source in sorted(p for p in folder.rglob("*") if p.is_file()):
                self._log_file(run_id, source, join_path(folder_name, source.relative_to(folder).as_posix()))
        if register_as is None:
            return None
        return self.register_model(run_id, register_as, folder_name, alias=alias)

    def _log_file(self, run_id: str, source: Path, destination: str) -> StoredArtifact:
        response = self._upload(
            "PUT", f"/runs/{segment(run_id)}/artifacts/{relpath(destination)}", source, "application/octet-stream"
        )
        return StoredArtifact.from_json(response.json())

    def download_model_version(self, version: ModelVersion, dest: str | os.PathLike[str]) -> Path:
        """Download a READY version's files into `dest` and check each against its SHA-256.

        Archive members are checked before anything is written (no absolute paths, no ``..``,
        only the files the registry lists); nothing lands in `dest` unless every check passes.

        Args:
            version: the version, as `get_model_version` returned it.
            dest: the folder to put the files in (created if missing).

        Returns:
            The folder.

        Raises:
            ModelNotReady: the version is PENDING or FAILED.
            ModelLoadError: the download does not match the registry's record.
        """
        if version.status != READY:
            raise ModelNotReady(
                f"version {version.version} of {version.model!r} is {version.status}, not READY"
                + (f": {version.status_message}" if version.status_message else "")
            )
        expected = [asdict(item) for item in version.files]
        target = Path(dest)
        with tempfile.TemporaryDirectory(prefix="shipyard-download-") as tmp:
            archive = self._download(
                f"/models/{segment(version.model)}/versions/{version.version}/download", Path(tmp) / "version.zip"
            )
            unpacked = Path(tmp) / "files"
            written = extract_model_archive(archive, unpacked, expected)
            verify_files(unpacked, expected)
            for path in written:
                destination = target / path.relative_to(unpacked)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, destination)
        return target

    def download_model(self, uri: str, dest: str | os.PathLike[str]) -> ModelVersion:
        """Resolve a model reference and download that version's checked files into `dest`.

        Args:
            uri: ``models:/NAME@ALIAS``, ``models:/NAME/3``, ``NAME@ALIAS``, ``NAME/3`` or ``NAME`` (newest READY).
            dest: the folder to put the files in.

        Returns:
            The `ModelVersion` downloaded.

        Raises:
            ValueError: `uri` is not a model reference.
            ModelNotFound, ModelVersionNotFound, AliasNotFound, ModelNotReady, ModelLoadError.
        """
        name, ref = parse_model_uri(uri)
        version = self.get_model_version(name, ref)
        self.download_model_version(version, dest)
        return version

    def load_model(self, uri: str, dest: str | os.PathLike[str] | None = None, *, allow_pickle: bool = False) -> Any:
        """Download a registered model, check every file's SHA-256, and load it.

        A skops model is loaded only if every type and function it names is on the allow-list of
        `shipyard.model_trust` (exact classes and a few pure functions), so loading cannot act.

        Args:
            uri: ``models:/NAME@ALIAS``, ``models:/NAME/3``, ``NAME@ALIAS``, ``NAME/3`` or ``NAME`` (newest READY).
            dest: keep the files in this folder; default a temporary folder removed after loading.
            allow_pickle: UNSAFE: also load an ``sklearn-pickle`` version (an admin's pickle/joblib
                upload) by unpickling it, which runs any code the file holds. Only for files you trust.

        Returns:
            The estimator.

        Raises:
            ValueError: `uri` is not a model reference.
            ModelNotFound, ModelVersionNotFound, AliasNotFound: nothing matches.
            ModelNotReady: the version is PENDING or FAILED.
            ModelLoadError: a file does not match its SHA-256, the model holds untrusted types,
                or it is a pickle and `allow_pickle` is False.
        """
        name, ref = parse_model_uri(uri)
        version = self.get_model_version(name, ref)
        if version.flavor == PICKLE_FLAVOR and not allow_pickle:
            raise ModelLoadError(
                f"version {version.version} of {name!r} is a pickle, which can run code when loaded; "
                "pass allow_pickle=True only if you trust whoever uploaded it"
            )
        if dest is not None:
            return self._load_folder(version, self.download_model_version(version, dest))
        with tempfile.TemporaryDirectory(prefix="shipyard-model-") as tmp:
            return self._load_folder(version, self.download_model_version(version, tmp))

    @staticmethod
    def _load_folder(version: ModelVersion, folder: Path) -> Any:
        expected = [asdict(item) for item in version.files]
        if version.flavor == PICKLE_FLAVOR:
            return load_pickle_folder(folder, expected)
        return load_model_folder(folder, expected)
