"""Pre-flight for ICA: every lookup a launch makes, plus the pipeline's input codes.

A launch resolves the pipeline code, the data paths and the storage size before it
POSTs (:mod:`runhub_ica.lookups`, cached per backend); pre-flight runs the same
lookups and stops there. It also checks what a launch leaves to ICA: every mount's
``input`` must be a data input the pipeline declares (``GET
pipelines/{pipelineId}/inputParameters``, operation ``getProjectPipelineInputParameters``,
``InputParameterList.items[].code``); ICA would refuse the create otherwise.

Not checked here: the activation code (``findBestMatchingForNextflow`` takes each
row's whole input, so it would cost one request per row; the launch asks it) and
parameter codes (the launch sends them as given).
"""

from __future__ import annotations

from typing import Any

from runhub.backend import Exchange, response_json
from runhub.errors import SpecError
from runhub.gather import gather
from runhub.spec import RunSpec
from runhub_ica.auth import Credentials
from runhub_ica.lookups import Lookups
from runhub_ica.translate import CUSTOM_KINDS, V3, plan
from runhub_ica.wire import get


class Preflight:
    """Read-only checks of a spec against the project, sharing the launch's caches."""

    def __init__(self, creds: Credentials, lookups: Lookups) -> None:
        self.creds = creds
        self.settings = creds.settings
        self.lookups = lookups
        self._inputs: dict[tuple[str, str], list[str]] = {}

    def clear(self) -> None:
        """Forget the input codes looked up."""
        self._inputs.clear()

    def check(self, spec: RunSpec, project: str) -> Exchange[None]:
        """Raise what a launch of ``spec`` in ``project`` (an id) would run into; None if
        it would be sent."""
        p = plan(spec)
        found = yield from gather(
            self.lookups.pipeline(project, p),
            *(
                self.lookups.data(project, mount, index)
                for index, mount in enumerate(p.mounts)
                if mount.kind == "path"
            ),
            self.lookups.storage(project, p.storage),
        )
        pipeline_id = found[0].id
        if p.kind in CUSTOM_KINDS or not p.mounts:
            return None
        known = yield from self._input_codes(project, pipeline_id)
        for index, mount in enumerate(p.mounts):
            if mount.input is not None and mount.input not in known:
                raise SpecError(
                    f"pipeline {p.pipeline!r} has no data input {mount.input!r}",
                    field=f"mounts.{index}.input",
                    hint="valid inputs: " + (", ".join(known) or "none"),
                )
        yield from self.lookups.input_codes(project, pipeline_id, p)  # mounts without input
        return None

    def _input_codes(self, project: str, pipeline_id: str) -> Exchange[list[str]]:
        key = (project, pipeline_id)
        if key not in self._inputs:
            resp = yield get(
                self.creds,
                f"/api/projects/{project}/pipelines/{pipeline_id}/inputParameters",
                V3,
                "list pipeline inputs",
            )
            items: Any = response_json(resp).get("items", [])
            self._inputs[key] = [str(i.get("code")) for i in items if isinstance(i, dict)]
        return self._inputs[key]


__all__ = ["Preflight"]
