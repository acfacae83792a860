"""The domain: stores, projects, assets and their sidecars. The only code that writes the tree."""

from .access import ANONYMOUS, GUEST, NOBODY, SYSTEM, Actor, GroupPolicy, Policy
from .errors import StoreError
from .layout import ASSET_LEVEL, PROJECT_LEVEL, STORE_LEVEL, Location
from .registry import Registry
from .store import Entry, FileStore

__all__ = [
    "ANONYMOUS",
    "GUEST",
    "ASSET_LEVEL",
    "NOBODY",
    "PROJECT_LEVEL",
    "STORE_LEVEL",
    "SYSTEM",
    "Actor",
    "Entry",
    "FileStore",
    "Location",
    "GroupPolicy",
    "Policy",
    "Registry",
    "StoreError",
]
