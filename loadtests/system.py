"""Process limits for load generators and benchmarks. Pure Python (no gevent)."""

from __future__ import annotations

import logging
import resource

__all__ = ["raise_fd_limit"]

log = logging.getLogger(__name__)


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard limit (every stream is a socket); returns the new soft
    limit. Children started afterwards inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning("could not raise the open-files limit above %s", soft)
    return soft
