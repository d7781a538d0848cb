"""Celery side: the app object and the transcription task."""
