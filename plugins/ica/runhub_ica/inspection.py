"""``show``, ``logs`` and ``runs --remote`` for ICA (exchanges the backend delegates to).

Operations used (ICA v2 OpenAPI, ``/api/projects/{projectId}/...``):

- detail: ``GET analyses/{id}`` (``getAnalysis``, v4 ``AnalysisV4``), ``GET
  analyses/{id}/configurations`` (``getAnalysisConfigurations``, v3
  ``ExecutionConfigurationList``: the parameters used) and ``GET analyses/{id}/inputs``
  (``getAnalysisInputs``, v3 ``AnalysisInputList``), side by side.
- logs: ``GET analyses/{id}/steps`` (``getAnalysisSteps``, v3 ``AnalysisStepList``).
  A finished step's ``logs.stdOutData``/``stdErrData`` is a project file, read with
  ``POST data/{dataId}:createDownloadUrl`` (``createDownloadUrlForData``, v3
  ``Download.url``) and a GET of that pre-signed URL. A running step offers only a
  WebSocket stream (``stdOutStream``), which runhub does not read: its log is shown
  once the step has ended. Files already read are cached (they no longer change).
- list_runs: ``POST analysis:search`` (``searchAnalyses``, read-only) with cursor
  paging (``pageToken``/``nextPageToken``), as the batch status polling does.

The web page ``<server>/ica/projects/<projectId>/analyses/<analysisId>`` follows
the address scheme of ICA's project pages; the API does not state it (UNVERIFIED).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from runhub.backend import Exchange, request, response_json
from runhub.detail import LogText, RunDetail
from runhub.gather import gather
from runhub.state import RunStatus
from runhub_ica.auth import Credentials
from runhub_ica.settings import IcaSettings
from runhub_ica.translate import V3, V4
from runhub_ica.wire import get, post

#: ``AnalysisV4`` -> RunStatus (the backend's own mapping).
ToStatus = Callable[[Any, str, str | None], RunStatus]
_DATA_KEY = {"stdout": "stdOutData", "stderr": "stdErrData"}
_STREAM_KEY = {"stdout": "stdOutStream", "stderr": "stdErrStream"}


def web_url(settings: IcaSettings, project: str, analysis: str) -> str:
    """The analysis's page in the ICA web interface (see the module note)."""
    root = settings.api_base.removesuffix("/rest")
    return f"{root}/projects/{project}/analyses/{analysis}"


class Inspector:
    """Detail, logs and listings of one ICA tenant; caches log files already read."""

    def __init__(self, creds: Credentials, to_status: ToStatus) -> None:
        self.creds = creds
        self.settings = creds.settings
        self.to_status = to_status
        self._texts: dict[str, str] = {}

    def clear(self) -> None:
        """Forget the log files read."""
        self._texts.clear()

    def detail(self, project: str, analysis: str, batch: str | None) -> Exchange[RunDetail]:
        """The analysis, its parameters and its inputs (three GETs in one round)."""
        base = f"/api/projects/{project}/analyses/{analysis}"
        got, configs, inputs = yield from gather(
            self._json(get(self.creds, base, V4, "get analysis")),
            self._json(get(self.creds, base + "/configurations", V3, "analysis parameters")),
            self._json(get(self.creds, base + "/inputs", V3, "analysis inputs")),
        )
        status = self.to_status(got, project, batch)
        pipeline = got.get("pipeline") if isinstance(got, dict) else None
        storage = got.get("analysisStorage") if isinstance(got, dict) else None
        extra = {
            key: got[key]
            for key in ("reference", "analysisPriority")
            if isinstance(got, dict) and got.get(key)
        }
        return RunDetail(
            status=status,
            pipeline=pipeline.get("code") if isinstance(pipeline, dict) else None,
            parameters=_parameters(configs),
            inputs=_inputs(inputs),
            storage=storage.get("name") if isinstance(storage, dict) else None,
            tags=got.get("tags") if isinstance(got, dict) else None,
            url=web_url(self.settings, project, analysis),
            extra=extra,
        )

    def logs(
        self, project: str, analysis: str, batch: str | None, stream: str
    ) -> Exchange[LogText]:
        """Every step's log of ``stream`` that ICA has as a file, step by step."""
        base = f"/api/projects/{project}/analyses/{analysis}"
        got, steps = yield from gather(
            self._json(get(self.creds, base, V4, "get analysis")),
            self._json(get(self.creds, base + "/steps", V3, "analysis steps")),
        )
        status = self.to_status(got, project, batch)
        items = steps.get("items") if isinstance(steps, dict) else None
        chunks: list[str] = []
        parts: list[str] = []
        for step in items if isinstance(items, list) else []:
            if not isinstance(step, dict):
                continue
            logs = step.get("logs") if isinstance(step.get("logs"), dict) else {}
            data = logs.get(_DATA_KEY[stream]) if isinstance(logs, dict) else None
            ident = data.get("id") if isinstance(data, dict) else None
            name = f"{step.get('name')} ({step.get('status')})"
            if isinstance(ident, str) and ident:
                text = yield from self._file(project, ident)
                parts.append(str(step.get("name")))
                if not text:
                    continue
                chunks.append(f"== {name} ==\n{text}" + ("" if text.endswith("\n") else "\n"))
            elif isinstance(logs, dict) and logs.get(_STREAM_KEY[stream]):
                chunks.append(f"== {name}: still running; its log is shown once it ends ==\n")
        return LogText(stream, "".join(chunks), complete=status.is_terminal, parts=parts)

    def _file(self, project: str, ident: str) -> Exchange[str]:
        if ident not in self._texts:
            resp = yield post(
                self.creds,
                f"/api/projects/{project}/data/{ident}:createDownloadUrl",
                V3,
                "log download url",
                read_only=True,
            )
            url = response_json(resp).get("url")
            body = yield request("GET", str(url), purpose="read a step log")
            self._texts[ident] = body.text
        return self._texts[ident]

    def list_runs(self, project: str, limit: int) -> Exchange[list[RunStatus]]:
        """The project's analyses, newest first, paged by cursor."""
        found: list[Any] = []
        token: str | None = None
        while len(found) < limit:
            params: dict[str, Any] = {"pageSize": str(min(self.settings.page_size, limit))}
            if token:
                params["pageToken"] = token
            data = yield from self._json(
                post(
                    self.creds,
                    f"/api/projects/{project}/analysis:search",
                    V3,
                    "list analyses",
                    {},
                    read_only=True,
                    params=params,
                )
            )
            found.extend(i for i in data.get("items", []) if isinstance(i, dict))
            token = data.get("nextPageToken") or None
            if not token:
                break
        found.sort(key=lambda i: str(i.get("timeCreated") or ""), reverse=True)
        return [self.to_status(i, project, None) for i in found[:limit]]

    @staticmethod
    def _json(req: httpx.Request) -> Exchange[Any]:
        resp = yield req
        data = response_json(resp)
        return data if isinstance(data, dict) else {}


def _parameters(configs: Any) -> dict[str, Any] | None:
    items = configs.get("items") if isinstance(configs, dict) else None
    if not isinstance(items, list):
        return None
    found: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict) and item.get("name"):
            values = item.get("values") or []
            found[str(item["name"])] = (
                values if item.get("multiValue") else next(iter(values), None)
            )
    return found


def _inputs(inputs: Any) -> list[dict[str, Any]]:
    items = inputs.get("items") if isinstance(inputs, dict) else None
    found: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        for data in item.get("analysisData") or []:
            if isinstance(data, dict):
                found.append(
                    {
                        "input": item.get("code"),
                        "source": data.get("dataId"),
                        "path": data.get("mountPath") or data.get("name"),
                    }
                )
        for ext in item.get("externalData") or []:
            if isinstance(ext, dict):
                found.append(
                    {
                        "input": item.get("code"),
                        "source": ext.get("url"),
                        "path": ext.get("mountPath"),
                    }
                )
    return found


__all__ = ["Inspector", "web_url"]
