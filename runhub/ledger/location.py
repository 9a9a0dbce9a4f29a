"""Which ledger a command uses, and how its location is shown.

``RUNHUB_LEDGER`` beats the profile's ``ledger = "..."`` key, which beats the
default ``<runhub home>/ledger.sqlite``. A location is a file path (SQLite) or a
URL of a registered store (``postgresql://user@host/db``); a URL's password is
never shown: :func:`masked` is what every message, repr and ``config show`` print.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

#: The environment variable naming the ledger (a path or a URL).
ENV = "RUNHUB_LEDGER"
#: The profile key naming the ledger.
PROFILE_KEY = "ledger"
MASK = "***"
# libpq accepts ``password=`` among a URL's query parameters too.
_QUERY_PASSWORD = re.compile(r"(?i)(\bpassword=)[^&]*")


class Configured(NamedTuple):
    """The ledger location in force, and where it was set."""

    location: str | Path
    source: str  # "env RUNHUB_LEDGER" | "profile NAME" | "default"


def default_path() -> Path:
    """``<runhub home>/ledger.sqlite``."""
    from runhub.config import runhub_home

    return runhub_home() / "ledger.sqlite"


def configured(profile: str | None = None) -> Configured:
    """The ledger to use: ``RUNHUB_LEDGER``, else the profile's ``ledger``, else
    the SQLite file in the runhub home."""
    explicit = os.environ.get(ENV, "").strip()
    if explicit:
        return Configured(_as_location(explicit), f"env {ENV}")
    from runhub.config import load_profile, profile_name
    from runhub.errors import ConfigError

    try:
        value = load_profile(profile).get(PROFILE_KEY)
    except ConfigError:
        if not _profile_missing(profile):
            raise  # a profile file that cannot be read: never guess the ledger
        value = None  # no such profile: its ledger is the default (commands that
        # need the profile's backend settings say it is missing)
    if value is not None:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"profile {profile_name(profile)}: ledger must be a file path or a URL "
                '(e.g. ledger = "postgresql://user@host/db")'
            )
        return Configured(_as_location(value.strip()), f"profile {profile_name(profile)}")
    return Configured(default_path(), "default")


def _profile_missing(profile: str | None) -> bool:
    """True if the profile file is absent, or readable and without this profile."""
    import tomllib

    from runhub.config import config_path, profile_name

    path = config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return True
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return profile_name(profile) not in data


def is_url(location: str | Path) -> bool:
    """True for ``scheme://...`` locations other than ``file://``."""
    text = str(location)
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme != "file"


def masked(location: str | Path) -> str:
    """``location`` as it may be printed: a URL without its password."""
    text = str(location)
    if not is_url(text):
        return text
    try:
        parts = urlsplit(text)
        if not parts.netloc and "password=" not in parts.query.lower():
            return text  # nothing secret to hide (postgresql:///db: a local socket)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, colon, _password = userinfo.partition(":")
            netloc = f"{user}:{MASK}@{hostport}" if colon else f"{user}@{hostport}"
        query = _QUERY_PASSWORD.sub(rf"\g<1>{MASK}", parts.query)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        # Unparseable: show the scheme only, never what might be a secret.
        return f"{text.partition('://')[0]}://{MASK}"


def password_of(location: str | Path) -> str | None:
    """The password a URL carries (to scrub it from a driver's messages)."""
    if not is_url(location):
        return None
    try:
        parts = urlsplit(str(location))
    except ValueError:
        return None
    found = _QUERY_PASSWORD.search(parts.query)
    from urllib.parse import unquote

    if parts.password:
        return unquote(parts.password)
    return unquote(found.group(0).partition("=")[2]) if found else None


def _as_location(text: str) -> str | Path:
    return text if is_url(text) else Path(text).expanduser()
