"""An analysis's parameters, inputs and steps, and the steps' log files.

Operations (ICA v2 OpenAPI): ``getAnalysisConfigurations`` (v3
``ExecutionConfigurationList``), ``getAnalysisInputs`` (v3 ``AnalysisInputList``),
``getAnalysisSteps`` (v3 ``AnalysisStepList``) and ``createDownloadUrlForData``
(v3 ``Download``). Every answer is checked against libica's models like the
app's own. Each analysis has two steps, a technical one preparing the inputs and
the pipeline's own; while a step runs its logs are WebSocket URLs
(``stdOutStream``), once it ends they are project files (``stdOutData``), as the
``AnalysisStepLogs`` description says. Log files are served at a pre-signed
address under :data:`LOGS`, without credentials.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
from libica.openapi.v3 import models as m
from pydantic import BaseModel, ValidationError

from runhub_ica.emulator import seed
from runhub_ica.emulator.protocol import JSON, V3, Call, Problem
from runhub_ica.emulator.world import AnalysisRec, World

#: Path prefix (under the server root) of the pre-signed log downloads.
LOGS = "/emulator-logs/"
_STEP_STATUS = {"SUCCEEDED": "DONE", "FAILED": "FAILED", "ABORTED": "ABORTED"}


class Inspection:
    """Handlers mixed into the emulator; ``inspection_routes`` lists them."""

    world: World
    clock: Any
    check_responses: bool
    created: list[dict[str, Any]]

    def _find(self, call: Call) -> AnalysisRec:
        raise NotImplementedError

    def _project(self, call: Call) -> str:
        raise NotImplementedError

    # -- parameters and inputs ---------------------------------------------------------

    def _body_of(self, rec: AnalysisRec) -> dict[str, Any]:
        """The create request that made ``rec`` (analyses and bodies are kept in order)."""
        index = list(self.world.analyses).index(rec.id)
        return self.created[index] if index < len(self.created) else {}

    def _configurations(self, call: Call) -> httpx.Response:
        params = self._body_of(self._find(call)).get("analysisInput", {}).get("parameters") or []
        items = [
            {
                "name": p["code"],
                "multiValue": "multiValue" in p,
                "values": list(p.get("multiValue") or []) or [p.get("value", "")],
            }
            for p in params
        ]
        return self._answer(m.ExecutionConfigurationList, {"items": items})

    def _analysis_inputs(self, call: Call) -> httpx.Response:
        rec = self._find(call)
        entries = self._body_of(rec).get("analysisInput", {}).get("inputs") or []
        items = []
        for entry in entries:
            data = []
            for ident in entry.get("dataIds") or []:
                found = self.world.data.get(ident)
                if found is not None:
                    data.append(
                        {
                            "dataId": found.id,
                            "format": _format(self.world),
                            "name": found.name,
                            "dataType": "FOLDER" if found.folder else "FILE",
                            "mountPath": f"{entry['parameterCode']}/{found.name}",
                        }
                    )
            items.append({"code": entry["parameterCode"], "analysisData": data})
        return self._answer(m.AnalysisInputList, {"items": items})

    # -- steps and their logs ----------------------------------------------------------

    def _steps(self, call: Call) -> httpx.Response:
        rec = self._find(call)
        now = self.clock.now()
        status, _, ended = self.world.status_at(rec, now)
        timeline = dict(self.world.timeline(rec))
        prepared = timeline.get("PREPARING_INPUTS")
        running = timeline.get("IN_PROGRESS")
        steps = []
        for name, start, end, technical in (
            ("prepare_inputs", prepared, running, True),
            (rec.pipeline.code, running, ended, False),
        ):
            if start is None or now < start:
                steps.append(_step(rec, name, "WAITING", technical, None, None, {}))
                continue
            done = end is not None and now >= end
            state = "DONE"
            if done and not technical:
                state = _STEP_STATUS.get(status, "DONE")
            if not done:
                state = "ABORTED" if status in ("ABORTED", "ABORTING") else "RUNNING"
            logs = self._step_logs(rec, name, state, done)
            steps.append(
                _step(rec, name, state, technical, self.world.stamp(start), end and done, logs)
            )
            if done:
                steps[-1]["endDate"] = self.world.stamp(end or now)
        return self._answer(m.AnalysisStepList, {"items": steps})

    def _step_logs(self, rec: AnalysisRec, step: str, state: str, done: bool) -> dict[str, Any]:
        if not done:
            wss = f"wss://ica-emulator.invalid/logs/{rec.id}/{step}"
            return {"stdOutStream": f"{wss}/stdout", "stdErrStream": f"{wss}/stderr"}
        return {
            "stdOutData": self._log_data(rec, step, "stdout"),
            "stdErrData": self._log_data(rec, step, "stderr"),
        }

    def _log_data(self, rec: AnalysisRec, step: str, stream: str) -> dict[str, Any]:
        ident = log_id(rec.id, step, stream)
        path = f"/logs/{rec.user_reference.replace('/', '_')}_{rec.id[:8]}/{step}.{stream}.log"
        return {"id": ident, "urn": f"urn:ilmn:ica:region:{seed.REGION_ID}:data:{ident}#{path}"}

    def _create_download_url(self, call: Call) -> httpx.Response:
        project = self._project(call)
        ident = call.groups["data"]
        rec = self.world.data.get(ident)
        if rec is not None and rec.project == project and not rec.folder:
            url = f"https://ica-emulator.invalid/download/{rec.id}?X-Amz-Signature=emulated"
            return self._answer(m.Download, {"url": url})
        if self.log_text(ident) is None:
            raise Problem(404, "ICA_EMU_NOT_FOUND", f"Data {ident} not found in project")
        origin = f"{call.request.url.scheme}://{call.request.url.netloc.decode()}"
        url = f"{origin}{LOGS}{ident}?X-Amz-Signature=emulated"
        return self._answer(m.Download, {"url": url})

    def log_text(self, ident: str) -> str | None:
        """The content of log file ``ident`` (None: no such log)."""
        for rec in self.world.analyses.values():
            for step in ("prepare_inputs", rec.pipeline.code):
                for stream in ("stdout", "stderr"):
                    if log_id(rec.id, step, stream) == ident:
                        return _log_text(self, rec, step, stream)
        return None

    def log_download(self, ident: str) -> httpx.Response:
        """A pre-signed GET of a log file."""
        text = self.log_text(ident.split("?")[0])
        if text is None:
            return httpx.Response(404, text="NoSuchKey")
        return httpx.Response(200, text=text, headers={"Content-Type": "text/plain"})

    def _answer(self, model: type[BaseModel], body: Any) -> httpx.Response:
        if self.check_responses:
            try:
                model.model_validate(body)
            except ValidationError as exc:
                raise Problem(
                    500, "ICA_EMU_BUG", f"emulator answer breaks {model.__name__}: {exc}"
                ) from None
        return httpx.Response(
            200, content=json.dumps(body).encode(), headers={"Content-Type": JSON}
        )

    def inspection_routes(self, route: Any, analysis: str, project: str) -> list[Any]:
        """The routes for these handlers (built with the app's own route maker)."""
        return [
            route("GET", analysis + r"/configurations", self._configurations, None, (V3,)),
            route("GET", analysis + r"/inputs", self._analysis_inputs, None, (V3,)),
            route("GET", analysis + r"/steps", self._steps, None, (V3,)),
            route(
                "POST",
                project + r"/data/(?P<data>[^/:]+):createDownloadUrl",
                self._create_download_url,
                (V3, JSON),
                (V3,),
                required=False,
            ),
        ]


def log_id(analysis: str, step: str, stream: str) -> str:
    """The data id of one step's log file."""
    return "fil." + hashlib.md5(f"log:{analysis}:{step}:{stream}".encode()).hexdigest()


def _step(
    rec: AnalysisRec,
    name: str,
    status: str,
    technical: bool,
    start: str | None,
    done: Any,
    logs: dict[str, Any],
) -> dict[str, Any]:
    step: dict[str, Any] = {
        "id": f"{rec.id[:8]}-{name}",
        "name": name,
        "status": status,
        "technical": technical,
        "logs": logs,
    }
    if start is not None:
        step["startDate"] = start
    if done and status in ("DONE", "FAILED"):
        step["exitCode"] = 0 if status == "DONE" else 1
    return step


def _log_text(app: Inspection, rec: AnalysisRec, step: str, stream: str) -> str:
    if step == "prepare_inputs":
        lines = ["staging inputs", "inputs ready"] if stream == "stdout" else []
    elif stream == "stdout":
        params = app._body_of(rec).get("analysisInput", {}).get("parameters") or []
        shown = " ".join(f"{p['code']}={p.get('value', p.get('multiValue'))}" for p in params)
        lines = [f"{rec.pipeline.code}: started", f"parameters: {shown or '(none)'}"]
        lines.append("failed" if rec.fail else "finished")
    else:
        lines = ["ERROR: step failed (scripted by the emulator)"] if rec.fail else []
    return "".join(f"{line}\n" for line in lines)


def _format(world: World) -> dict[str, Any]:
    return {
        "id": "d1e2f3a4-0000-4000-8000-0000000000f1",
        "timeCreated": world.stamp(0),
        "timeModified": world.stamp(0),
        "ownerId": seed.OWNER_ID,
        "tenantId": seed.TENANT_ID,
        "code": "UNKNOWN",
    }


__all__ = ["LOGS", "Inspection", "log_id"]
