"""The core's exceptions, free of transport details.

Each front end maps them once: ``app.py`` to HTTP status codes, ``grpc_server.py`` to gRPC status
codes. Messages are written for the user and never carry tracebacks, hosts or credentials.
"""

# Messages may quote what the user sent (an unknown model_type, a column name); whatever was sent,
# an error message stays this short, so no endpoint reflects a large input back.
MAX_MESSAGE_CHARS = 2000


class ServiceError(Exception):
    """Base of every error the service reports to its users."""

    def __init__(self, message: str):
        if len(message) > MAX_MESSAGE_CHARS:  # keep both ends: what was wrong, and what to do
            kept = MAX_MESSAGE_CHARS - 60  # room for the marker
            head = kept * 2 // 3
            cut = f" [... {len(message) - kept:,} characters left out ...] "
            message = message[:head] + cut + message[len(message) - (kept - head) :]
        super().__init__(message)
        self.message = message


class Unauthenticated(ServiceError):
    """No valid credentials came with the request."""


class PermissionDenied(ServiceError):
    """The caller is known but may not do this to that object (it may see it)."""


class InvalidInput(ServiceError):
    """The request itself is wrong (bad field, shape, hyperparameter, ...)."""


class NotFound(ServiceError):
    """The thing asked for does not exist."""


class ModelNotFound(NotFound):
    """No model (or model version) with that id exists."""


class DatasetNotFound(NotFound):
    """No dataset (or dataset version) with that name exists."""


class Conflict(ServiceError):
    """The request clashes with existing state (a name already taken)."""


class InUse(Conflict):
    """The thing cannot be deleted or changed while others depend on it (a dataset models use)."""


class PayloadTooLarge(InvalidInput):
    """The request exceeds a configured size limit (rows, features, bytes)."""


class TrainingLimitExceeded(ServiceError):
    """A fit was stopped: it ran past the training time limit, or its process died (out of memory)."""


class PredictionLimitExceeded(ServiceError):
    """A prediction was stopped: it ran past (or was certain to run past) the prediction time limit."""


class TooManyJobs(ServiceError):
    """The caller already has as many queued and running training jobs as one caller may."""


class Unavailable(ServiceError):
    """A dependency (MLflow tracking server / registry, artifact store) cannot be reached."""


class Cancelled(ServiceError):
    """A training job was cancelled before it registered anything (never shown as an HTTP error)."""
