"""The one error family of ASM Watch.

Every message quotes the bad value and says what would be accepted, so the CLI can print it as
one line and the Lambda handlers can map the class to a status code.
"""


class AsmError(Exception):
    """Base class of every error ASM Watch raises on purpose."""


class ItemError(AsmError):
    """A STAC item is missing, unreadable or not a Sentinel-2 L2A item we can use."""


class BandError(AsmError):
    """An item lacks the bands a job needs, or its bands do not line up."""


class RasterReadError(AsmError):
    """A band file could not be opened or decoded (missing, truncated, corrupt)."""


class CrsError(AsmError):
    """Coordinate reference system metadata is missing or contradicts itself."""


class RuleSetError(AsmError):
    """A rule set file is missing, not YAML, or fails validation."""


class AoiError(AsmError):
    """An area of interest is empty, invalid or out of range."""


class UpstreamError(AsmError):
    """A service we depend on is unreachable or failing (not the caller's fault: try later).
    The API answers these 503, bad input 400; a subclass says which service."""


class CatalogError(AsmError):
    """A STAC API could not be searched (unreachable, failing, or not a STAC API)."""


class CatalogUnavailableError(CatalogError, UpstreamError):
    """A STAC API is unreachable or failing."""


class BandSourceUnavailableError(RasterReadError, UpstreamError):
    """A remote band file kept failing with transient errors (timeouts, 5xx, resets) after
    every retry: the store's fault, not the file's."""


class TruthError(AsmError):
    """A truth (labelled reference) file cannot be used for evaluation."""


class ResultsError(AsmError):
    """A results folder is missing, empty or not in the ASM Watch layout."""


class ResultsNotWritableError(ResultsError):
    """A results folder cannot be written (disk full, read-only, no permission): a scan stops,
    since every further tile-date would fail and its failure could not be recorded."""


class DetectionFailedError(AsmError):
    """A scene could not be read or judged (its tile_runs row says why)."""


class SyntheticSceneError(AsmError):
    """Synthetic scene parameters are out of the supported range."""


class StateEvaluationError(AsmError):
    """The truth folder or the results cannot be scored."""


class QueryError(AsmError):
    """A query cannot run: bad SQL, unknown table or function, missing or bad parameter."""


class ContextError(AsmError):
    """A context layer cannot be read or named."""
