"""Resumable uploads (tus 1.0.0: core, creation, creation-with-upload, termination,
expiration, checksum) under /api/uploads/; a finished upload lands as an OVE upload does."""

from .routes import blueprint
from .uploads import ResumableUploads

__all__ = ["ResumableUploads", "blueprint"]
