"""The handlers' error family: what a function raises on purpose, beside the core's
:class:`asm_core.errors.AsmError`.

Each class also derives from the built-in exception it is a kind of (a bad request is a
``ValueError``, a missing scan a ``LookupError``), and the API maps the classes to status codes
(``asm_watch_functions.api.app.ERROR_STATUS``). The state machine retries some by name
(``infra/statemachine/scan.asl.json``): rename them there too.
"""


class FunctionError(Exception):
    """Base class of every error the handlers raise on purpose."""


class ConfigurationError(FunctionError, RuntimeError):
    """A required environment variable is missing or malformed (a deployment error)."""


class ForbiddenError(FunctionError, PermissionError):
    """The request did not come through API Gateway's key check."""


class ScanTooLargeError(FunctionError, ValueError):
    """More tile-dates than the deployment allows in one scan."""


class ScanRequestTooLargeError(FunctionError, ValueError):
    """A scan request larger than the service that runs it accepts (Step Functions: 256 KiB)."""


class AreaTooLargeError(FunctionError, ValueError):
    """The area is too large for a synchronous answer (start a scan instead)."""


class ScanNotFoundError(FunctionError, LookupError):
    """No scan with that id."""


class NoSceneError(FunctionError, LookupError):
    """No scene of the catalogue covers the area on those dates."""


class ReportNotReadyError(FunctionError, LookupError):
    """The scan has no report (yet): it is still running, or failed before its report."""


class AthenaQueryError(FunctionError, RuntimeError):
    """Athena failed or took too long for a synchronous answer."""


class SiteTablesBusyError(FunctionError, RuntimeError):
    """Another Finalize holds the site tables. The state machine retries the Finalize on this
    name every 60 s, 20 times: longer than a holder can live (its 900 s timeout)."""


class CatalogueBusyError(FunctionError, RuntimeError):
    """The STAC collection kept changing under this Finalize (the state machine retries it)."""


class PartitionBusyError(FunctionError, RuntimeError):
    """Another scan merged the same results partition while this one did (a conditional write
    of its merged file lost the race): the state machine merges it again."""


class TaskFailedError(FunctionError, RuntimeError):
    """Raised by the state machine's Catch payload: what ended a task's attempts."""
