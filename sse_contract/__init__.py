"""The contract shared by every part of the project, and by any service that copies the reference app.

Pure: it imports nothing else of this project and does no I/O. The SSE wire format (``wire``), the status
model (``status``), the body of ``POST .../transcribe`` (``jobs``) and the contract's constants
(``constants``: headers, event names, Last-Event-ID parsing). docs/contract.md is the prose of it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sse-harness")
except PackageNotFoundError:  # a copy of the folder outside the installed project
    __version__ = "0.0.0"
