"""``uvicorn reference_app.main:app`` entry point (settings from the environment)."""

from reference_app.app import create_app

app = create_app()
