"""One boto3 session per process for S3 multipart, warmed while the platform is asked.

Importing boto3 and loading S3's service model costs ~0.2 s of CPU, and a new
boto3 session pays the model load again for every client (~0.09 s; a warm session
makes a client in a few milliseconds). So:

- :func:`ensure_boto3` checks boto3 is installed without importing it, before the
  platform creates anything (the one-line install hint otherwise);
- :func:`prewarm` imports boto3 and loads the model on a background thread, so the
  work overlaps the platform calls that come before the first part (create the file,
  temporary credentials: each a network round trip on a real platform);
- :func:`s3_client` makes every client (each file's, each credential renewal's) from
  that one session, under a lock: boto3 sessions are not thread-safe, clients are.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from typing import Any

from runhub.errors import ConfigError

_lock = threading.Lock()
_session: Any = None
_session_env: tuple[str | None, ...] = ()
_warming: threading.Thread | None = None
#: A session reads these once (the config files); another value means another session.
SESSION_ENV = (
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
)


def ensure_boto3(install: str) -> None:
    """ConfigError naming ``install`` when boto3 cannot be imported (nothing imported)."""
    if importlib.util.find_spec("boto3") is None:
        raise ConfigError(
            "large files are uploaded with S3 multipart, which needs boto3 (not installed)",
            hint=f"install it with: {install}",
        )


def prewarm() -> None:
    """Start loading boto3 and S3's model in the background (once per process)."""
    global _warming
    with _lock:
        if _warming is not None:
            return
        _warming = threading.Thread(target=_warm, name="runhub-s3-warm", daemon=True)
        _warming.start()


def _warm() -> None:
    try:
        session = _shared()
        with _lock:
            session._session.get_service_model("s3")  # the JSON load a client would do
    except Exception:  # the real client creation reports it, in order
        return


def _shared() -> Any:
    global _session, _session_env
    env = tuple(os.environ.get(name) for name in SESSION_ENV)
    with _lock:
        if _session is None or env != _session_env:
            import boto3

            _session, _session_env = boto3.session.Session(), env
        return _session


def s3_client(**kwargs: Any) -> Any:
    """A boto3 S3 client from the process's shared session (see the module docstring)."""
    warming = _warming
    if warming is not None and warming is not threading.current_thread():
        warming.join()
    session = _shared()
    with _lock:
        return session.client("s3", **kwargs)
