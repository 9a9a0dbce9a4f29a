"""Notification channels, subscriptions, and the notifications they deliver.

Endpoints (official schemas, checked like every other endpoint):
``POST/GET /api/notificationChannels`` (``CreateNotificationChannel``: type SQS, SNS or
HTTP and an address) and ``POST/GET/DELETE /api/projects/{projectId}/notificationSubscriptions``
(``CreateNotificationSubscription``: ``eventCode``, ``notificationChannelId``,
``payloadVersion`` V3/V4). ``filterExpression`` is kept but not applied (ICA does not
publish its grammar): every analysis of the project matches.

:meth:`Notifier.pump` looks at every analysis, and for each status it passed since the
last pump sends one message per matching subscription (reference/ica-events.md):
``ICA_EXEC_028`` for every change, ``ICA_EXEC_002``/``001``/``027`` when it succeeded,
failed or was aborted. SQS and SNS channels are sent with boto3 (a test points it at
moto: :attr:`Notifier.aws`), HTTP channels are POSTed. :class:`Faults` duplicates,
drops, delays and reorders deliveries, as SNS/SQS and ICA are allowed to. A server
started with ``--notify-every SECONDS`` pumps on its own (:meth:`Notifier.start`).
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from libica.openapi.v3 import models as m

from runhub_ica.emulator import schema, seed
from runhub_ica.emulator.protocol import JSON, V3, Call, Problem, Route
from runhub_ica.emulator.world import ABORT_SECONDS, TERMINAL, V3_STATUS, AnalysisRec

if TYPE_CHECKING:
    from runhub_ica.emulator.app import IcaEmulator

schema.REQUESTS.update(
    {
        "notificationChannels": m.CreateNotificationChannel,
        "notificationSubscriptions": m.CreateNotificationSubscription,
    }
)
schema.RESPONSES.update(
    {
        "notificationChannel": m.NotificationChannel,
        "notificationChannels": m.NotificationChannelList,
        "notificationSubscription": m.NotificationSubscription,
        "notificationSubscriptions": m.NotificationSubscriptionList,
    }
)

STATUS_CHANGE = "ICA_EXEC_028"
#: Event code -> (when it is sent: the new status is one of these; None: any change).
CODES: dict[str, frozenset[str] | None] = {
    STATUS_CHANGE: None,
    "ICA_EXEC_001": frozenset({"FAILED", "FAILED_FINAL"}),
    "ICA_EXEC_002": frozenset({"SUCCEEDED"}),
    "ICA_EXEC_027": frozenset({"ABORTED"}),
}
DESCRIPTIONS = {
    STATUS_CHANGE: "Analysis status changed",
    "ICA_EXEC_001": "Analysis failed",
    "ICA_EXEC_002": "Analysis succeeded",
    "ICA_EXEC_027": "Analysis aborted",
}
FAULT_KINDS = ("drop", "duplicate", "delay")


@dataclass
class Faults:
    """What happens to deliveries: shares dropped, duplicated and delayed (by
    ``delay_seconds`` emulated seconds), and ``reorder`` to shuffle each pump's
    deliveries. :meth:`push` forces the next deliveries' faults, in order."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 30.0
    reorder: bool = False
    seed: int | None = None
    _queue: list[str] = field(default_factory=list)
    _random: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._random.seed(self.seed)

    def push(self, *kinds: str) -> None:
        """The next deliveries get these faults (``drop``, ``duplicate``, ``delay``
        or ``none``), one each."""
        unknown = set(kinds) - {*FAULT_KINDS, "none"}
        if unknown:
            raise ValueError(f"unknown delivery faults: {sorted(unknown)}")
        self._queue.extend(kinds)

    def decide(self) -> str | None:
        """The fault of the next delivery, or None."""
        if self._queue:
            kind = self._queue.pop(0)
            return None if kind == "none" else kind
        roll = self._random.random()
        for kind, share in (("drop", self.drop), ("duplicate", self.duplicate)):
            if roll < share:
                return kind
            roll -= share
        return "delay" if roll < self.delay else None


@dataclass
class Delivery:
    """One message on its way to one channel."""

    due: float
    channel: dict[str, Any]
    message: dict[str, Any]


class Notifier:
    """The emulator's notification side; ``app.notifier``."""

    def __init__(self, app: IcaEmulator) -> None:
        self.app = app
        self.channels: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.faults = Faults()
        #: boto3 client arguments for SQS/SNS channels (endpoint_url, credentials ...).
        self.aws: dict[str, Any] = {}
        #: Every message delivered, in delivery order (duplicates twice).
        self.delivered: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self._passed: dict[str, int] = {}  # analysis id -> statuses already notified
        self._finished: set[str] = set()  # analyses whose terminal status was notified
        self._held: list[Delivery] = []
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- endpoints ----------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The channel and subscription routes."""
        s = r"/api/projects/(?P<project>[^/:]+)/notificationSubscriptions"

        def route(
            method: str,
            pattern: str,
            handler: Callable[[Call], httpx.Response],
            consumes: tuple[str, ...] | None,
            model: str | None = None,
            produces: tuple[str, ...] | None = (V3,),
        ) -> Route:
            return Route(method, re.compile(pattern), handler, consumes, produces, model)

        return [
            route(
                "POST",
                r"/api/notificationChannels",
                self._new_channel,
                (V3, JSON),
                "notificationChannels",
            ),
            route("GET", r"/api/notificationChannels", self._channel_list, None),
            route("POST", s, self._subscribe, (V3, JSON), "notificationSubscriptions"),
            route("GET", s, self._subscription_list, None),
            route("DELETE", s + r"/(?P<subscription>[^/:]+)", self._unsubscribe, None, None, None),
        ]

    def _owned(self) -> dict[str, Any]:
        now = self.app.world.stamp(self.app.clock.now())
        return {
            "id": str(uuid.uuid4()),
            "timeCreated": now,
            "timeModified": now,
            "ownerId": seed.OWNER_ID,
            "tenantId": seed.TENANT_ID,
            "tenantName": seed.TENANT_NAME,
        }

    def _new_channel(self, call: Call) -> httpx.Response:
        body = call.body
        channel = {**self._owned(), "enabled": body["enabled"], "type": body["type"]}
        channel["address"] = body["address"]
        if body.get("awsRegion"):
            channel["awsRegion"] = body["awsRegion"]
        self.channels[channel["id"]] = channel
        return self.app._json(201, "notificationChannel", channel)

    def _channel_list(self, call: Call) -> httpx.Response:
        return self.app._json(200, "notificationChannels", {"items": list(self.channels.values())})

    def _subscribe(self, call: Call) -> httpx.Response:
        project = self.app._project(call)
        body = call.body
        channel = self.channels.get(str(body["notificationChannelId"]))
        if channel is None:
            raise Problem(
                404,
                "ICA_EMU_NOT_FOUND",
                f"Notification channel {body['notificationChannelId']} not found",
            )
        subscription = {
            **self._owned(),
            "eventCode": body["eventCode"],
            "payloadVersion": body.get("payloadVersion") or "V4",
            "enabled": body["enabled"],
            "notificationChannel": channel,
        }
        if body.get("filterExpression"):
            subscription["filterExpression"] = body["filterExpression"]
        self.subscriptions[subscription["id"]] = {**subscription, "projectId": project}
        return self.app._json(200, "notificationSubscription", subscription)

    def _subscription_list(self, call: Call) -> httpx.Response:
        project = self.app._project(call)
        items = [
            {k: v for k, v in s.items() if k != "projectId"}
            for s in self.subscriptions.values()
            if s["projectId"] == project
        ]
        return self.app._json(200, "notificationSubscriptions", {"items": items})

    def _unsubscribe(self, call: Call) -> httpx.Response:
        self.app._project(call)
        if self.subscriptions.pop(call.groups["subscription"], None) is None:
            raise Problem(404, "ICA_EMU_NOT_FOUND", "Notification subscription not found")
        return httpx.Response(204)

    # -- what happened ----------------------------------------------------------------

    def _statuses(self, rec: AnalysisRec, now: float) -> list[tuple[str, float]]:
        """Every (status, time) ``rec`` has reached by ``now``, in order."""
        world = self.app.world
        steps = world.timeline(rec)
        if rec.aborted_at is not None and rec.aborted_at < steps[-1][1]:
            steps = [(s, t) for s, t in steps if t <= rec.aborted_at]
            steps += [("ABORTING", rec.aborted_at), ("ABORTED", rec.aborted_at + ABORT_SECONDS)]
        reached = [(s, t) for s, t in steps if t <= now]
        if reached and reached[-1][0] in TERMINAL:
            world.status_at(rec, now)  # a succeeded analysis gets its outputs now
        return reached

    def _message(
        self, rec: AnalysisRec, code: str, version: str, prev: str | None, status: str, at: float
    ) -> dict[str, Any]:
        world = self.app.world
        payload = world.analysis_v3(rec) if version == "V3" else world.analysis_v4(rec)
        payload["status"] = V3_STATUS.get(status, status) if version == "V3" else status
        payload["timeModified"] = world.stamp(at)
        if status in TERMINAL:
            payload["endDate"] = world.stamp(at)
        else:
            payload.pop("endDate", None)
            payload.pop("summary", None)
        parameters = {"pipelineExecution": rec.id, "analysisStatus": status}
        if prev is not None:
            parameters["analysisPreviousStatus"] = prev
        return {
            "correlationId": str(uuid.uuid4()),
            "timestamp": world.at(at).isoformat().replace("+00:00", "Z"),
            "eventCode": code,
            "eventParameters": parameters,
            "description": DESCRIPTIONS[code],
            "projectId": rec.project,
            "payloadVersion": version,
            "payload": payload,
        }

    def _due_messages(self, now: float) -> list[Delivery]:
        """New deliveries for every status reached since the last pump."""
        found: list[Delivery] = []
        with self.app._lock:
            subscribed = [s for s in self.subscriptions.values() if s["enabled"]]
            for rec in self.app.world.analyses.values():
                if rec.id in self._finished:
                    continue
                reached = self._statuses(rec, now)
                start = self._passed.get(rec.id, 0)
                self._passed[rec.id] = len(reached)
                if reached and reached[-1][0] in TERMINAL:
                    self._finished.add(rec.id)
                for index in range(start, len(reached)):
                    status, at = reached[index]
                    prev = reached[index - 1][0] if index else None
                    for sub in subscribed:
                        wanted = CODES.get(sub["eventCode"], frozenset())
                        if (
                            sub["projectId"] != rec.project
                            or not sub["notificationChannel"]["enabled"]
                        ):
                            continue
                        if wanted is not None and status not in wanted:
                            continue
                        message = self._message(
                            rec, sub["eventCode"], sub["payloadVersion"], prev, status, at
                        )
                        found.append(Delivery(now, sub["notificationChannel"], message))
        return found

    # -- delivery -----------------------------------------------------------------------

    def pump(self) -> int:
        """Deliver what is due at the emulated now; returns the messages sent."""
        with self._lock:
            now = self.app.clock.now()
            out: list[Delivery] = []
            for delivery in self._due_messages(now):
                fault = self.faults.decide()
                if fault == "drop":
                    self.counts["dropped"] += 1
                    continue
                if fault == "delay":
                    self.counts["delayed"] += 1
                    delivery.due = now + self.faults.delay_seconds
                    self._held.append(delivery)
                    continue
                out.append(delivery)
                if fault == "duplicate":
                    self.counts["duplicated"] += 1
                    out.append(delivery)
            ready = [d for d in self._held if d.due <= now]
            self._held = [d for d in self._held if d.due > now]
            out.extend(ready)
            if self.faults.reorder:
                self.faults._random.shuffle(out)
            for delivery in out:
                self._send(delivery)
            return len(out)

    def _send(self, delivery: Delivery) -> None:
        channel, text = delivery.channel, json.dumps(delivery.message)
        kind, address = channel["type"], channel["address"]
        if kind == "SQS":
            self._aws("sqs", channel).send_message(QueueUrl=address, MessageBody=text)
        elif kind == "SNS":
            self._aws("sns", channel).publish(TopicArn=address, Message=text)
        elif kind == "HTTP":
            httpx.post(address, content=text, headers={"Content-Type": JSON}, timeout=10.0)
        else:  # MAIL: nowhere to deliver here
            self.counts["undeliverable"] += 1
            return
        self.delivered.append(delivery.message)
        self.counts["sent"] += 1

    def _aws(self, service: str, channel: dict[str, Any]) -> Any:
        import boto3

        region = channel.get("awsRegion") or self.aws.get("region_name") or "us-east-1"
        client = self._clients.get((service, region))
        if client is None:
            options = {k: v for k, v in self.aws.items() if k != "region_name"}
            client = boto3.client(service, region_name=region, **options)
            self._clients[(service, region)] = client
        return client

    # -- on its own (server mode) -------------------------------------------------------

    def start(self, every: float) -> None:
        """Pump every ``every`` real seconds in a thread, until :meth:`stop`."""

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.pump()
                except Exception as error:  # a channel down must not stop the others
                    self.counts["failed"] += 1
                    self.counts[f"failed: {type(error).__name__}"] += 1

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="ica-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop pumping on its own."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


__all__ = ["CODES", "Faults", "Notifier"]
