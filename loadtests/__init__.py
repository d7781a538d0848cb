"""Locust load harness for SSE status streams.

Import graph, on purpose: ``accounting``, ``slo``, ``summary``, ``runner`` and ``bench`` are plain Python
(no gevent) so the ``sse-harness`` CLI and the async app's tests can import them; ``transport``,
``client``, ``users``, ``scenarios``, ``plugin``, ``locustfile`` and ``bench_client`` need gevent's
monkey-patching and are only ever imported inside a Locust (or benchmark client) process. This package
``__init__`` imports nothing so that importing one side never drags in the other.
"""
