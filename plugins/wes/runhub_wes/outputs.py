"""A run's result files from ``RunLog.outputs``, in the shapes servers use.

The spec says only that ``outputs`` is an object ("The outputs from the workflow
run"). In practice:

- CWL servers (wes-service, toil) send the CWL output object: each output is a
  ``File`` (``location``, ``basename``, ``size``), a ``Directory`` (``listing``), a
  list of them, or a plain value (not a file; skipped);
- WDL servers (Cromwell) send ``{"wf.out": "/path/or/url"}``: text that is a URL
  or an absolute path is a file;
- sapporo 2.x sends a list of ``{file_name, file_url}`` (its docs/wes-compatibility.md).

A ``location`` is a download URL when it is http(s), or a ``file://`` URL of a
server on this machine (loopback); anything else cannot be fetched from here and
gets no ``url``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from runhub.backend import Output


def _basename(location: str) -> str:
    path = urlsplit(location).path if "://" in location else location
    return PurePosixPath(unquote(path)).name


def _looks_like_file(text: str) -> bool:
    return text.startswith("/") or "://" in text


class _Collector:
    def __init__(self, loopback: bool) -> None:
        self.loopback = loopback
        self.found: list[Output] = []
        self.paths: set[str] = set()

    def url(self, location: str) -> str | None:
        scheme = urlsplit(location).scheme
        if scheme in ("http", "https"):
            return location
        if scheme == "file" and self.loopback:
            return location
        if not scheme and location.startswith("/") and self.loopback:
            return PurePosixPath(location).as_uri()
        return None

    def add(self, output: Output) -> None:
        path = output.path
        number = 1
        while path in self.paths:  # two outputs with one name: keep both
            number += 1
            stem = PurePosixPath(output.path)
            path = str(stem.with_name(f"{stem.stem}-{number}{stem.suffix}"))
        self.paths.add(path)
        self.found.append(
            Output(path=path, size=output.size, kind=output.kind, id=output.id, url=output.url)
        )

    def cwl(self, value: Any, prefix: str, name: str) -> None:
        """One CWL output value (a File, Directory, list, or anything else)."""
        if isinstance(value, list):
            for item in value:
                self.cwl(item, prefix, name)
            return
        if isinstance(value, str) and _looks_like_file(value):
            self.add(Output(path=prefix + _basename(value), url=self.url(value), id=name))
            return
        if not isinstance(value, Mapping):
            return  # a number, a string, a record of them: not a file
        location = value.get("location") or value.get("path")
        location = location if isinstance(location, str) else ""
        base = value.get("basename")
        base = base if isinstance(base, str) and base else _basename(location) or name
        kind = value.get("class")
        if kind == "File":
            size = value.get("size")
            self.add(
                Output(
                    path=prefix + base,
                    size=size if isinstance(size, int) else None,
                    url=self.url(location) if location else None,
                    id=name,
                )
            )
            for secondary in value.get("secondaryFiles") or []:
                self.cwl(secondary, prefix, name)
        elif kind == "Directory":
            self.add(Output(path=prefix + base, kind="folder", id=name))
            for item in value.get("listing") or []:
                self.cwl(item, f"{prefix}{base}/", name)
        else:  # a CWL record: its fields may hold files
            for key, item in value.items():
                self.cwl(item, prefix, str(key))


def parse_outputs(outputs: Any, *, loopback: bool) -> list[Output]:
    """Every result file (and folder) of ``RunLog.outputs``; empty if there are none."""
    collector = _Collector(loopback)
    if isinstance(outputs, list):  # sapporo: [{file_name, file_url}]
        for item in outputs:
            if isinstance(item, Mapping) and isinstance(item.get("file_name"), str):
                url = item.get("file_url")
                collector.add(
                    Output(
                        path=item["file_name"],
                        url=collector.url(url) if isinstance(url, str) else None,
                    )
                )
    elif isinstance(outputs, Mapping):
        for name, value in outputs.items():
            collector.cwl(value, "", str(name))
    return collector.found
