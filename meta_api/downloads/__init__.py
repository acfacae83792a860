"""Downloads from URLs as durable tasks (see runner.py), through a guard against server-side
request forgery (guard.py)."""

from .guard import RefusedUrl, UrlGuard, open_url
from .remote import describe
from .runner import DownloadRunner
from .tasks import DownloadTask

__all__ = ["DownloadRunner", "DownloadTask", "RefusedUrl", "UrlGuard", "describe", "open_url"]
