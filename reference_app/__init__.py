"""Reference implementation of an SSE status stream: FastAPI + Redis fan-out + Celery."""

from sse_contract import __version__

__all__ = ["__version__"]
