"""A consumer that is killed (SIGKILL) between receiving a message and deleting it.

``python kill_driver.py SERVER_URL LEDGER QUEUE_URL WHERE``: consumes the queue with
the seed chain as listener, and kills itself when step 1's success arrives, either
right after the ledger recorded it (``after-commit``: step 2 not launched yet) or
right after step 2 was launched (``after-effect``). Either way the message is never
deleted. Run by test_crash.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from runhub_ica.backend import IcaBackend
from runhub_ica.emulator import seed
from seedchain import SeedChain

from runhub.aio import AsyncClient
from runhub.events import EventSink, SqsConsumer
from runhub.ledger import Ledger
from runhub.plugins import BackendInfo, Registry


class KilledChain(SeedChain):
    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    async def __call__(self, client: AsyncClient, refs: Sequence[str]) -> None:
        assert client.ledger is not None
        rows = [client.ledger.by_ref(ref) for ref in refs]
        due = any(
            r and r.state == "SUCCEEDED" and (r.name or "").startswith("step1-") for r in rows
        )
        if due and self.where == "after-commit":
            os.kill(os.getpid(), signal.SIGKILL)
        await super().__call__(client, refs)
        if due and self.where == "after-effect":
            os.kill(os.getpid(), signal.SIGKILL)


async def main(server: str, ledger_path: str, queue_url: str, where: str) -> None:
    settings = {"ica": {"server_url": server, "x_api_key": "k", "project_id": seed.PROJECT_ID}}
    plugins = Registry(backends={"ica": BackendInfo(IcaBackend, "runhub_ica", None, None)})
    with Ledger(ledger_path) as ledger:
        async with AsyncClient(settings=settings, plugins=plugins, ledger=ledger) as client:
            sink = EventSink(client, [KilledChain(where)])
            await SqsConsumer(queue_url, sink, wait=0, batch=1).run(drain=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
    sys.exit(3)  # drained without being killed: the test fails on this code
