"""runhub backend for Code Ocean (capsules and pipelines via ``/api/v1/computations``)."""

from __future__ import annotations

from runhub_codeocean._version import __version__
from runhub_codeocean.backend import CodeOceanBackend
from runhub_codeocean.settings import CodeOceanSettings

__all__ = ["CodeOceanBackend", "CodeOceanSettings", "__version__"]
