"""The AppError tree (HTTP status + stable code) and the one RFC 9457 problem+json renderer."""

from typing import Any

from app import validation

PROBLEM_CONTENT_TYPE = "application/problem+json"


class AppError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    # Seconds for the Retry-After header, for the errors a client may retry later.
    retry_after: int | None = None
    # True for an error that must not undo what the request wrote before it (a failed login's
    # record and audit): the request's session commits, then the error is answered.
    keep_work: bool = False

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(self.status, self.code, self.title, self.detail, instance, **self.extra)


def problem_body(
    status: int, code: str, title: str, detail: str, instance: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:shipyard:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def validation_problem(
    errors: list[dict[str, Any]], instance: str | None = None, sentences: list[str] | None = None
) -> dict[str, Any]:
    """The 422 for input that does not fit the schema: each error's `loc`, `msg` and `type`, and a
    detail of one human sentence per error (`sentences`, else worded from the errors alone)."""
    worded = sentences if sentences is not None else [validation.sentence(error) for error in errors]
    return problem_body(422, "validation_error", "Validation error", validation.detail(worded), instance, errors=errors)


class InvalidInput(AppError):
    status, code, title = 400, "invalid_input", "Invalid input"


class InvalidFilter(AppError):
    status, code, title = 400, "invalid_filter", "Malformed filter"


class LimitExceeded(AppError):
    status, code, title = 400, "limit_exceeded", "Limit exceeded"


class InvalidPath(AppError):
    status, code, title = 400, "invalid_path", "Invalid artifact path"


class InvalidState(AppError):
    status, code, title = 409, "invalid_state", "Invalid state"


class Unauthenticated(AppError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class ServiceUnavailable(AppError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"
    retry_after = 2


class ExperimentNotFound(NotFound):
    code = "experiment_not_found"


class RunNotFound(NotFound):
    code = "run_not_found"


class ArtifactNotFound(NotFound):
    code = "artifact_not_found"


class UserNotFound(NotFound):
    code = "user_not_found"


class TokenNotFound(NotFound):
    code = "token_not_found"


class MetricNotFound(NotFound):
    code = "metric_not_found"


class ExperimentConflict(Conflict):
    code = "experiment_conflict"


class UserConflict(Conflict):
    code = "user_conflict"


class ParamConflict(Conflict):
    code = "param_conflict"


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the errors a route can raise, so the schema knows them."""
    statuses = {401, 403, 422} | {e.status for e in errors}
    return {
        status: {
            "description": _STATUS_TEXT.get(status, "Error"),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in sorted(statuses)
    }


_STATUS_TEXT = {
    400: "Bad request",
    401: "Missing or invalid token",
    403: "Role too low",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation error",
    429: "Too many requests",
    503: "Service unavailable",
    412: "Precondition failed",
    500: "A stored file failed its SHA-256 check",
    507: "Insufficient storage",
}


class ModelNotFound(NotFound):
    code = "model_not_found"


class ModelVersionNotFound(NotFound):
    code = "model_version_not_found"


class AliasNotFound(NotFound):
    code = "alias_not_found"


class ModelConflict(Conflict):
    code = "model_conflict"


class AliasConflict(Conflict):
    code = "alias_conflict"


class UntrustedModel(AppError):
    status, code, title = 400, "untrusted_model", "Untrusted model"


class PickleRefused(AppError):
    status, code, title = 400, "pickle_refused", "Pickle refused"


class DatasetNotFound(NotFound):
    code = "dataset_not_found"


class DatasetConflict(Conflict):
    code = "dataset_conflict"


class JobNotFound(NotFound):
    code = "job_not_found"


class InvalidSpec(AppError):
    status, code, title = 400, "invalid_spec", "Invalid job spec"


class StorageUnavailable(ServiceUnavailable):
    code = "storage_unavailable"


class InsufficientStorage(AppError):
    status, code, title = 507, "insufficient_storage", "Insufficient storage"


class InvalidContentDigest(AppError):
    status, code, title = 400, "invalid_content_digest", "Invalid Content-Digest"


class DigestMismatch(AppError):
    status, code, title = 400, "digest_mismatch", "Content digest mismatch"


class ArtifactExists(AppError):
    status, code, title = 412, "artifact_exists", "Precondition failed"


class StoredFileCorrupt(AppError):
    status, code, title = 500, "stored_file_corrupt", "Stored file corrupt"


class IdempotencyKeyReused(AppError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency-Key reused"


class WeakPassword(AppError):
    status, code, title = 400, "weak_password", "Weak password"


class LoginFailed(Unauthenticated):
    """A wrong username or password: the failure is recorded and audited, so its work is kept."""

    keep_work = True


class TooManyLoginAttempts(AppError):
    status, code, title = 429, "too_many_login_attempts", "Too many login attempts"
    keep_work = True

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class RequestTimeout(AppError):
    status, code, title = 408, "request_timeout", "Request timeout"


class DeploymentNotFound(NotFound):
    code = "deployment_not_found"


class DeploymentConflict(Conflict):
    """A deployment of that name exists, or another route change on it got there first."""

    code = "deployment_conflict"


class NothingToPromote(Conflict):
    code = "nothing_to_promote"


class RolloutInProgress(Conflict):
    """A deployment has at most one rollout in progress."""

    code = "rollout_in_progress"


class NoRolloutInProgress(Conflict):
    code = "no_rollout_in_progress"


class WarmupFailed(AppError):
    """A version that does not load or does not predict its own input example gets no traffic."""

    status, code, title = 422, "warmup_failed", "Warm-up failed"


class PredictionInputInvalid(AppError):
    status, code, title = 422, "invalid_prediction_input", "Invalid prediction input"


class ModelError(AppError):
    """The model raised on the request's input: the input is what differs from the warm-up,
    so it is a client-side 422; the server goes on serving."""

    status, code, title = 422, "model_error", "Model error"


class VersionDeployed(Conflict):
    code = "version_deployed"


class DriftReportNotFound(NotFound):
    code = "drift_report_not_found"


class InferenceRequestInvalid(AppError):
    """A V2 (Open Inference Protocol) infer request that does not fit the protocol or the model's
    signature: 400, as the protocol answers."""

    status, code, title = 400, "invalid_inference_request", "Invalid inference request"


class UrlRefused(InvalidInput):
    """A URL the server does not send to: not http(s), credentials in it, or a host that is (or
    resolves to) a loopback, private, link-local, metadata or otherwise non-public address."""

    code, title = "url_refused", "URL refused"


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"


class ScheduleNotFound(NotFound):
    code = "schedule_not_found"


class ScheduleConflict(Conflict):
    code = "schedule_conflict"


class ScheduleManaged(Conflict):
    """The platform owns this schedule (a deployment monitor): it is changed there, not through /schedules."""

    code = "schedule_managed"


class MonitorNotFound(NotFound):
    code = "monitor_not_found"


class MonitorConflict(Conflict):
    code = "monitor_conflict"
