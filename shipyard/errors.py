"""Exceptions raised by the SDK: one class per problem `code` the server answers with.

The server's stable `code` picks the class; an unknown code falls back on the HTTP status."""

from collections.abc import Mapping
from typing import Any


class ShipyardError(Exception):
    """A request the server refused or could not be made.

    Attributes:
        status: HTTP status of the answer (0 when no answer came back).
        code: the stable machine-readable problem code, e.g. ``run_not_found``.
        detail: the human-readable explanation from the server.
        problem: the whole problem+json body, with any extra fields such as ``errors``.
        request_id: the server's ``X-Request-ID``, to quote when reporting a bug.
    """

    default_status = 0
    default_code = "error"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        problem: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = self.default_status if status is None else status
        self.code = code or self.default_code
        self.problem: dict[str, Any] = dict(problem or {})
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.detail} ({self.code}, HTTP {self.status})" if self.status else self.detail


class TransportError(ShipyardError):
    """The server could not be reached or the connection broke (no HTTP answer)."""

    default_code = "transport_error"


class NoActiveRun(ShipyardError):
    """A fluent `shipyard.log_*` call was made with no run started."""

    default_code = "no_active_run"


class InvalidInput(ShipyardError):
    default_status, default_code = 400, "invalid_input"


class InvalidFilter(InvalidInput):
    default_code = "invalid_filter"


class LimitExceeded(InvalidInput):
    default_code = "limit_exceeded"


class InvalidPath(InvalidInput):
    default_code = "invalid_path"


class ValidationError(InvalidInput):
    """422: the request body or query did not match the schema; ``errors`` names the fields."""

    default_status, default_code = 422, "validation_error"

    @property
    def errors(self) -> list[dict[str, Any]]:
        found = self.problem.get("errors")
        return list(found) if isinstance(found, list) else []


class Unauthenticated(ShipyardError):
    default_status, default_code = 401, "unauthenticated"


class Forbidden(ShipyardError):
    default_status, default_code = 403, "forbidden"


class NotFound(ShipyardError):
    default_status, default_code = 404, "not_found"


class ExperimentNotFound(NotFound):
    default_code = "experiment_not_found"


class RunNotFound(NotFound):
    default_code = "run_not_found"


class ArtifactNotFound(NotFound):
    default_code = "artifact_not_found"


class MetricNotFound(NotFound):
    default_code = "metric_not_found"


class UserNotFound(NotFound):
    default_code = "user_not_found"


class TokenNotFound(NotFound):
    default_code = "token_not_found"


class Conflict(ShipyardError):
    default_status, default_code = 409, "conflict"


class InvalidState(Conflict):
    default_code = "invalid_state"


class ExperimentConflict(Conflict):
    default_code = "experiment_conflict"


class UserConflict(Conflict):
    default_code = "user_conflict"


class ParamConflict(Conflict):
    default_code = "param_conflict"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class ModelVersionNotFound(NotFound):
    default_code = "model_version_not_found"


class AliasNotFound(NotFound):
    default_code = "alias_not_found"


class DatasetNotFound(NotFound):
    default_code = "dataset_not_found"


class JobNotFound(NotFound):
    default_code = "job_not_found"


class ModelConflict(Conflict):
    default_code = "model_conflict"


class AliasConflict(Conflict):
    default_code = "alias_conflict"


class DatasetConflict(Conflict):
    default_code = "dataset_conflict"


class UntrustedModel(InvalidInput):
    """The model file holds types outside the allow-list (``untrusted_types`` in `problem`)."""

    default_code = "untrusted_model"


class PickleRefused(InvalidInput):
    """A pickle/joblib model file, refused because loading one can run code."""

    default_code = "pickle_refused"


class InvalidSpec(InvalidInput):
    """A job spec the server refused when it was submitted; the detail says what is wrong."""

    default_code = "invalid_spec"


class IdempotencyKeyReused(InvalidInput):
    """The Idempotency-Key was sent before with a different request; use a new key for a new one."""

    default_status, default_code = 422, "idempotency_key_reused"


class ModelRegistrationFailed(ShipyardError):
    """The registry made the version but marked it FAILED; the detail holds its status message."""

    default_code = "model_registration_failed"


class ModelNotReady(ShipyardError):
    """The model version is not READY (PENDING or FAILED), so it has no files to load."""

    default_code = "model_not_ready"


class ModelLoadError(ShipyardError):
    """A downloaded model does not match its registry entry, holds untrusted types, or is a
    pickle that the caller did not allow."""

    default_code = "model_load_error"


class WaitTimeout(ShipyardError):
    """Waiting for a job ended before the job did (the job itself goes on)."""

    default_code = "wait_timeout"


class PayloadTooLarge(ShipyardError):
    default_status, default_code = 413, "payload_too_large"


class UnsupportedMediaType(ShipyardError):
    default_status, default_code = 415, "unsupported_media_type"


class ServerError(ShipyardError):
    default_status, default_code = 500, "internal_error"


class ServiceUnavailable(ServerError):
    default_status, default_code = 503, "service_unavailable"


class InvalidContentDigest(InvalidInput):
    default_code = "invalid_content_digest"


class DigestMismatch(InvalidInput):
    """The body the server received does not have the SHA-256 the SDK declared; nothing was stored."""

    default_code = "digest_mismatch"


class ArtifactExists(ShipyardError):
    """An upload that must not overwrite (``overwrite=False``) found an artifact at its path."""

    default_status, default_code = 412, "artifact_exists"


class StorageUnavailable(ServiceUnavailable):
    """The server's artifact store is unreachable or overloaded for now; retry later."""

    default_code = "storage_unavailable"


class InsufficientStorage(ServerError):
    default_status, default_code = 507, "insufficient_storage"


class StoredFileCorrupt(ServerError):
    """A file of the version no longer matches its SHA-256 in the server's store; nothing was served."""

    default_code = "stored_file_corrupt"


class DeploymentNotFound(NotFound):
    default_code = "deployment_not_found"


class DeploymentConflict(Conflict):
    """A deployment has this name already, or another change of the deployment got there first."""

    default_code = "deployment_conflict"


class NothingToPromote(Conflict):
    default_code = "nothing_to_promote"


class RolloutInProgress(Conflict):
    """The deployment has a rollout in progress; promote, roll it back or abort it first."""

    default_code = "rollout_in_progress"


class NoRolloutInProgress(Conflict):
    default_code = "no_rollout_in_progress"


class VersionDeployed(Conflict):
    """The version is what a deployment serves; ``problem["deployments"]`` names them."""

    default_code = "version_deployed"


class DriftReportNotFound(NotFound):
    default_code = "drift_report_not_found"


class MonitorNotFound(NotFound):
    default_code = "monitor_not_found"


class WarmupFailed(ShipyardError):
    """The version did not load or did not predict its own input example; it got no traffic."""

    default_code = "warmup_failed"


class PredictionInputInvalid(ShipyardError):
    """The rows do not fit the model's signature; ``problem["column"]`` names the column."""

    default_code = "invalid_prediction_input"


class ModelError(ShipyardError):
    """The model raised on these rows (the server goes on serving)."""

    default_code = "model_error"


class UrlRefused(InvalidInput):
    """A webhook URL the server does not send to: not http(s), credentials in it, or a host that is
    (or resolves to) a loopback, private, link-local or metadata address."""

    default_code = "url_refused"


class WebhookDeliveryNotFound(NotFound):
    default_code = "webhook_delivery_not_found"


class ScheduleNotFound(NotFound):
    default_code = "schedule_not_found"


class ScheduleConflict(Conflict):
    """A schedule has this name already (or, for a managed one, it belongs to someone else)."""

    default_code = "schedule_conflict"


class ScheduleManaged(Conflict):
    """The platform manages this schedule (``problem["managed_by"]`` says what): change it there."""

    default_code = "schedule_managed"


_BY_CODE: dict[str, type[ShipyardError]] = {
    cls.default_code: cls
    for cls in (
        InvalidInput,
        InvalidFilter,
        LimitExceeded,
        InvalidPath,
        ValidationError,
        Unauthenticated,
        Forbidden,
        NotFound,
        ExperimentNotFound,
        RunNotFound,
        ArtifactNotFound,
        MetricNotFound,
        UserNotFound,
        TokenNotFound,
        Conflict,
        InvalidState,
        ExperimentConflict,
        UserConflict,
        ParamConflict,
        ModelNotFound,
        ModelVersionNotFound,
        AliasNotFound,
        DatasetNotFound,
        JobNotFound,
        ModelConflict,
        AliasConflict,
        DatasetConflict,
        UntrustedModel,
        PickleRefused,
        InvalidSpec,
        IdempotencyKeyReused,
        PayloadTooLarge,
        UnsupportedMediaType,
        ServerError,
        ServiceUnavailable,
        InvalidContentDigest,
        DigestMismatch,
        ArtifactExists,
        StorageUnavailable,
        InsufficientStorage,
        StoredFileCorrupt,
        DeploymentNotFound,
        DriftReportNotFound,
        MonitorNotFound,
        DeploymentConflict,
        NothingToPromote,
        RolloutInProgress,
        NoRolloutInProgress,
        VersionDeployed,
        WarmupFailed,
        PredictionInputInvalid,
        ModelError,
        UrlRefused,
        WebhookDeliveryNotFound,
        ScheduleNotFound,
        ScheduleConflict,
        ScheduleManaged,
    )
}
# Codes this SDK does not know yet (newer servers, other resources) still land in the right family.
_BY_STATUS: dict[int, type[ShipyardError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationError,
    503: ServiceUnavailable,
    412: ArtifactExists,
    507: InsufficientStorage,
}


def error_for(status: int, problem: Mapping[str, Any] | None, request_id: str | None = None) -> ShipyardError:
    """The exception for an error answer: by the problem's ``code``, else by the HTTP status."""
    body = dict(problem or {})
    code = body.get("code") if isinstance(body.get("code"), str) else None
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status) or (ServerError if status >= 500 else ShipyardError)
    detail = body.get("detail") or body.get("title") or f"HTTP {status}"
    return cls(str(detail), status=status, code=code, problem=body, request_id=request_id)
