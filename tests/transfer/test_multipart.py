"""Large files: S3 multipart with ICA's temporary credentials, against moto's S3
server and the ICA emulator on 127.0.0.1. Resumed after a kill from S3's own part
listing; a dropped connection costs one part; files stay small (5 MiB parts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from runhub_ica.emulator.uploads import S3Bucket

from runhub.spec import RunSpec
from runhub.transfer.store import TransferStore

from .conftest import Served, spec_data
from .tcpfault import Relay

MIB = 1 << 20
SMALL = {"multipart_threshold": 5 * MIB, "part_size": 5 * MIB, "part_concurrency": 2}


def _s3(bucket: S3Bucket) -> object:
    return boto3.client(
        "s3",
        endpoint_url=bucket.endpoint_url,
        aws_access_key_id=bucket.access_key,
        aws_secret_access_key=bucket.secret_key,
        region_name=bucket.region,
    )


def _object(served: Served, path: str) -> dict[str, object]:
    rec = next(r for r in served.app.world.data.values() if r.path == path)
    s3 = _s3(served.bucket)
    return s3.head_object(Bucket=served.bucket.bucket, Key=served.app.uploads.key_of(rec))  # type: ignore[attr-defined,no-any-return]


def test_a_large_mount_goes_by_multipart_and_is_found_again(
    served: Served, write: Callable[..., Path]
) -> None:
    write("big.fq", 11 * MIB + 123)
    with served.client(**SMALL) as client:
        client.launch(RunSpec.from_data(spec_data("./big.fq")))
        assert client.engine().tally.sent_in("uploading") == 11 * MIB + 123
    rec = next(r for r in served.app.world.data.values() if r.path.endswith("/big.fq"))
    assert rec.status == "AVAILABLE"
    assert rec.etag is not None
    assert rec.etag.endswith("-3")  # three parts, completed by S3
    assert served.app.uploads.credentials_issued == [rec.id]
    assert len(served.app.created) == 1
    with served.client(**SMALL) as again:
        again.launch(RunSpec.from_data(spec_data("./big.fq", name="s2")))
        assert again.engine().tally.sent_in("uploading") == 0
    assert len(served.app.created) == 2


def test_an_object_prefix_naming_the_folder_is_understood(
    served: Served, write: Callable[..., Path]
) -> None:
    served.bucket.prefix_mode = "folder"  # the spec does not say which; both work
    write("big.fq", 6 * MIB)
    with served.client(**SMALL) as client:
        done = client.upload(["big.fq"], "ica:/incoming/")
    assert [d.action for d in done] == ["uploaded"]
    assert _object(served, "/incoming/big.fq")["ContentLength"] == 6 * MIB


def test_a_dropped_connection_mid_part_costs_at_most_that_part(
    served: Served, write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write("big.fq", 12 * MIB)
    port = int(served.bucket.endpoint_url.rsplit(":", 1)[1])
    with Relay(port, drop_when=b"partNumber=2 HTTP", drop_after=MIB) as relay:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", relay.url)
        with served.client(**{**SMALL, "part_concurrency": 1}) as client:
            done = client.upload(["big.fq"], "ica:/incoming/")
            sent = client.engine().tally.sent_in("uploading")
    assert relay.dropped == 1
    assert [d.action for d in done] == ["uploaded"]
    assert sent == 12 * MIB  # counted per completed part: the retried part once
    assert _object(served, "/incoming/big.fq")["ContentLength"] == 12 * MIB


def test_a_killed_upload_resumes_from_its_completed_parts(
    served: Served, write: Callable[..., Path], home_store: Path
) -> None:
    size = 20 * MIB
    write("big.fq", size)
    port = int(served.bucket.endpoint_url.rsplit(":", 1)[1])
    env = {
        **os.environ,
        "RUNHUB_ICA_MULTIPART_THRESHOLD": str(5 * MIB),
        "RUNHUB_ICA_PART_SIZE": str(5 * MIB),
        "RUNHUB_ICA_PART_CONCURRENCY": "2",
    }
    with Relay(port, rate=8 * MIB) as relay:  # slow enough to be killed midway
        env["AWS_ENDPOINT_URL_S3"] = relay.url
        first = subprocess.Popen(
            [sys.executable, "-m", "runhub.cli", "data", "upload", "big.fq", "ica:/incoming/"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        recorded: dict[int, tuple[str, int]] = {}
        while time.monotonic() < deadline and first.poll() is None:
            if home_store.exists():
                pending = TransferStore(home_store).pending()
                recorded = TransferStore(home_store).parts(pending[0].dest) if pending else {}
                if recorded:
                    break
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert recorded, "the kill should land after a part completed"
    store = TransferStore(home_store)
    (state,) = store.pending()
    recorded = store.parts(state.dest)
    held = _s3(served.bucket).list_parts(  # type: ignore[attr-defined]
        Bucket=served.bucket.bucket, Key=state.object_key, UploadId=state.upload_id
    )["Parts"]
    held_bytes = sum(p["Size"] for p in held)
    assert held_bytes < size
    assert set(recorded) <= {p["PartNumber"] for p in held}
    with served.client(**SMALL) as client:
        done = client.upload(["big.fq"], "ica:/incoming/")
        sent = client.engine().tally.sent_in("uploading")
    assert [d.action for d in done] == ["resumed"]
    # only what S3 did not hold is sent again: at most the parts in flight at the kill
    assert sent == size - held_bytes
    assert sent <= size - sum(s for _, s in recorded.values())
    assert _object(served, "/incoming/big.fq")["ContentLength"] == size
    assert store.pending() == []


@pytest.fixture
def home_store(tmp_path: Path) -> Path:
    return tmp_path / "home" / "transfers.sqlite"
