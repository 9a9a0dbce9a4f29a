"""runhub backend for Illumina Connected Analytics (ICA v2 REST API)."""

from __future__ import annotations

from runhub_ica._version import __version__
from runhub_ica.backend import IcaBackend
from runhub_ica.settings import IcaSettings

__all__ = ["IcaBackend", "IcaSettings", "__version__"]
