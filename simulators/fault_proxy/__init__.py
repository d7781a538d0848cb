"""A fault-injecting HTTP/1.1 reverse proxy: what CDNs and load balancers do to SSE streams, on demand.

``modes.py`` declares every fault once (``ProxyMode``); ``proxy.py`` is the asyncio proxy (``FaultProxy``,
with a request log and cuts by path); ``threaded.py`` drives it from synchronous code (``run_in_thread``) and
is ``sse-harness proxy``. The one proxy of the project: the checker's tests, the browser tests and the
command line all use it.
"""

from simulators.fault_proxy.modes import DEFAULT_ERROR_PATH, STREAM_PATH, ProxyMode, mode_help
from simulators.fault_proxy.proxy import CONTROL_PATH, FaultProxy, ProxyStats, SeenRequest
from simulators.fault_proxy.threaded import ThreadedProxy, main, run_in_thread, running, serve

__all__ = ["CONTROL_PATH", "DEFAULT_ERROR_PATH", "STREAM_PATH", "FaultProxy", "ProxyMode", "ProxyStats",
           "SeenRequest", "ThreadedProxy", "main", "mode_help", "run_in_thread", "running", "serve"]
