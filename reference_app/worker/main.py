"""Entry point for ``celery -A reference_app.worker.main worker`` (what ``sse-harness worker`` runs)."""

from __future__ import annotations

from reference_app.settings import get_settings
from reference_app.worker.celery_app import make_celery

_settings = get_settings()
if not _settings.redis_url:
    raise RuntimeError("REDIS_URL must be set for the Celery worker (e.g. redis://127.0.0.1:6379/0)")

app = make_celery(_settings.redis_url, _settings.celery_visibility_timeout_s)
