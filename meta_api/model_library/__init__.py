"""Model libraries: finding model files and legacy libraries, staging them as pending
models (kept in the state dir, so they survive a restart), and importing them into the
library store with a conflict strategy. The model manager's face maps its routes here."""

from .importing import ImportReport, import_models
from .sources import LegacySource, scan_library, stage_folder_convention, stage_legacy_db
from .staging import PendingModel, Staging

__all__ = [
    "ImportReport",
    "LegacySource",
    "PendingModel",
    "Staging",
    "import_models",
    "scan_library",
    "stage_folder_convention",
    "stage_legacy_db",
]
