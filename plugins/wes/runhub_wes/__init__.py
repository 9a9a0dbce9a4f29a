"""runhub backend for GA4GH Workflow Execution Service (WES 1.1) servers.

Beyond the ``Backend`` operations every runhub backend has, a WES server can show a
run's logs and its service-info; :func:`logs` and :func:`service_info` drive those
exchanges through a :class:`runhub.Client`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runhub_wes._version import __version__
from runhub_wes.backend import WesBackend
from runhub_wes.logs import RunLogs
from runhub_wes.serviceinfo import ServiceInfo
from runhub_wes.settings import WesSettings

if TYPE_CHECKING:
    from runhub import Client
    from runhub.backend import Operation, RunRef


def _backend(client: Client) -> WesBackend:
    backend = client.backend(WesBackend.name)
    assert isinstance(backend, WesBackend)
    return backend


def logs(client: Client, ref: RunRef | str) -> RunLogs:
    """The run's command, exit code, stdout and stderr, as the server reports them."""
    from runhub.backend import RunRef

    run = RunRef.parse(ref) if isinstance(ref, str) else ref
    backend = _backend(client)
    exchange: Operation[RunLogs] = backend.run_logs(run)
    return client.driver(backend).run(exchange)


def service_info(client: Client) -> ServiceInfo:
    """What the configured WES server runs (``GET /service-info``)."""
    backend = _backend(client)
    exchange: Operation[ServiceInfo] = backend.service_info()
    return client.driver(backend).run(exchange)


__all__ = [
    "RunLogs",
    "ServiceInfo",
    "WesBackend",
    "WesSettings",
    "__version__",
    "logs",
    "service_info",
]
