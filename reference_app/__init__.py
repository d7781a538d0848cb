"""Reference implementation of an SSE status stream: FastAPI + Redis fan-out + Celery."""

__version__ = "0.1.0"
