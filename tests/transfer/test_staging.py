"""Local files as ICA mounts (in-process emulator, its own upload URLs): uploaded
once, found again by checksum, never launched on when anything fails."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from runhub_ica.emulator import IcaEmulator, seed
from runhub_ica.upload import content_tag

from runhub.aio import AsyncClient
from runhub.client import Client
from runhub.errors import AuthError, PlatformError, SpecError
from runhub.spec import RunSpec
from runhub.testing.emulator import Clock, mock_transport

from .conftest import FAST, ica_settings, plugins, spec_data

Write = Callable[..., Path]


def _mounted(app: IcaEmulator) -> list[str]:
    inputs = app.created[-1]["analysisInput"]["inputs"]
    fastqs = next(i for i in inputs if i["parameterCode"] == "fastqs")
    return [m["dataId"] for m in fastqs.get("mounts", [])] + list(fastqs.get("dataIds", []))


def test_a_local_file_is_uploaded_then_launched_on_and_found_again(
    client: Client, app: IcaEmulator, write: Write
) -> None:
    write("reads/S1_R1.fastq.gz", 20_000)
    status = client.launch(RunSpec.from_data(spec_data("./reads/S1_R1.fastq.gz")))
    (data_id,) = _mounted(app)
    rec = app.world.data[data_id]
    assert rec.status == "AVAILABLE"
    assert rec.path.startswith("/runhub/staging/")
    assert rec.path.endswith("/S1_R1.fastq.gz")
    assert rec.size == 20_000
    assert any(t.startswith("runhub-sha256:") for t in rec.technical_tags)
    assert app.uploads.bytes_received == 20_000
    assert app.created[-1]["analysisInput"]["inputs"][0]["mounts"][0]["mountPath"] == (
        "S1_R1.fastq.gz"
    )
    assert status.ref.backend == "ica"
    # a second run (a new client: another process) finds it by checksum: 0 bytes sent
    with Client(
        settings={"ica": ica_settings("http://127.0.0.1:9")},
        transport=mock_transport(app),
        policy=FAST,
        plugins=plugins(),
    ) as other:
        other.launch(RunSpec.from_data(spec_data("reads/S1_R1.fastq.gz", name="s2")))
        assert other.engine().tally.sent_in("uploading") == 0
    assert _mounted(app) == [data_id]
    assert app.uploads.bytes_received == 20_000


def test_the_same_content_at_another_path_is_reused(
    client: Client, app: IcaEmulator, write: Write
) -> None:
    first = write("a/x.fq", 5000, seed=1)
    second = Path("b/x.fq")
    second.parent.mkdir()
    second.write_bytes(first.read_bytes())
    client.launch(RunSpec.from_data(spec_data("./a/x.fq")))
    client.launch(RunSpec.from_data(spec_data("./b/x.fq", name="s2")))
    assert app.uploads.bytes_received == 5000
    assert len(app.created) == 2


def test_a_local_folder_is_uploaded_as_a_folder(
    client: Client, app: IcaEmulator, write: Write
) -> None:
    write("run1/S1_R1.fq", 1000)
    write("run1/S1_R2.fq", 1200)
    write("run1/lane2/S1_R1.fq", 900)
    client.launch(RunSpec.from_data(spec_data("./run1")))
    (folder_id,) = _mounted(app)
    folder = app.world.data[folder_id]
    assert folder.folder
    assert folder.path.endswith("/run1/")
    inside = sorted(
        r.path[len(folder.path) :]
        for r in app.world.data.values()
        if r.path.startswith(folder.path) and not r.folder
    )
    assert inside == ["S1_R1.fq", "S1_R2.fq", "lane2/S1_R1.fq"]
    assert app.uploads.bytes_received == 3100


def test_a_batch_uploads_each_distinct_file_once_before_any_launch(
    app: IcaEmulator, write: Write
) -> None:
    for i in range(5):
        write(f"fq/S{i}.fq", 3000 + i, seed=i)
    specs = [RunSpec.from_data(spec_data(f"./fq/S{i % 5}.fq", name=f"row{i}")) for i in range(20)]

    async def go() -> list[object]:
        async with AsyncClient(
            settings={"ica": ica_settings("http://127.0.0.1:9")},
            transport=mock_transport(app),
            policy=FAST,
            plugins=plugins(),
        ) as c:
            return list(await c.launch_many(specs))

    done = asyncio.run(go())
    assert len(done) == 20
    assert len(app.created) == 20
    assert app.uploads.bytes_received == sum(3000 + i for i in range(5))
    staged = [
        r for r in app.world.data.values() if r.path.startswith("/runhub/staging/") and not r.folder
    ]
    assert len(staged) == 5


def test_a_missing_local_file_is_a_spec_error_before_anything(
    client: Client, app: IcaEmulator
) -> None:
    with pytest.raises(SpecError, match="no such file or folder") as info:
        client.launch(RunSpec.from_data(spec_data("./nope.fq")))
    assert info.value.field == "mounts.0.source"
    assert app.log == []


def test_an_upload_url_answering_500_launches_nothing_and_a_rerun_resumes(
    client: Client, app: IcaEmulator, write: Write
) -> None:
    write("r.fq", 4000)
    app.uploads.refuse_uploads(*[500] * FAST.attempts)  # every retry of the PUT
    with pytest.raises(PlatformError, match="500"):
        client.launch(RunSpec.from_data(spec_data("./r.fq")))
    assert app.created == []
    partial = [r for r in app.world.data.values() if r.path.endswith("/r.fq")]
    assert [r.status for r in partial] == ["PARTIAL"]
    # the partial file is reopened (createUploadUrl) and overwritten, then used
    client.reset_backends()
    client.launch(RunSpec.from_data(spec_data("./r.fq")))
    assert _mounted(app) == [partial[0].id]
    assert partial[0].status == "AVAILABLE"
    assert any(":createUploadUrl" in line for line in app.log)


def test_a_refused_upload_url_is_renewed_once_then_an_auth_error(
    client: Client, app: IcaEmulator, write: Write
) -> None:
    write("r.fq", 4000)
    app.uploads.refuse_uploads(403)  # an expired URL: one fresh URL fixes it
    client.launch(RunSpec.from_data(spec_data("./r.fq")))
    assert len(app.created) == 1
    write("s.fq", 4000, seed=9)
    app.uploads.refuse_uploads(403, 403)
    with pytest.raises(AuthError, match="refused the upload URL") as info:
        client.launch(RunSpec.from_data(spec_data("./s.fq", name="s2")))
    assert info.value.exit_code == 3
    assert len(app.created) == 1
    assert "X-Amz-Signature" not in str(info.value)


def test_a_partial_file_is_never_launched_on(
    client: Client, app: IcaEmulator, write: Write
) -> None:
    # a dead upload left a PARTIAL file at the staged path: it is overwritten, not used
    path = write("r.fq", 2500)
    from runhub.transfer.digest import file_digest
    from runhub.transfer.local import examine

    (item,) = examine("./r.fq").files
    digest = file_digest(item, md5=True).sha256
    rec = app.world.add_data(seed.PROJECT_ID, f"/runhub/staging/{digest[:16]}/r.fq", None)
    rec.status = "PARTIAL"
    client.launch(RunSpec.from_data(spec_data("./r.fq")))
    assert _mounted(app) == [rec.id]
    assert (rec.status, rec.size) == ("AVAILABLE", path.stat().st_size)
    assert content_tag(digest) in rec.technical_tags


def test_a_different_file_at_the_staged_path_is_a_clash(
    client: Client, app: IcaEmulator, write: Write
) -> None:
    write("r.fq", 2500)
    from runhub.transfer.digest import file_digest
    from runhub.transfer.local import examine

    (item,) = examine("./r.fq").files
    digest = file_digest(item, md5=False).sha256
    app.world.add_data(seed.PROJECT_ID, f"/runhub/staging/{digest[:16]}/r.fq", 99)
    with pytest.raises(SpecError, match="already holds a different file") as info:
        client.launch(RunSpec.from_data(spec_data("./r.fq")))
    assert "staging_folder" in str(info.value)
    assert app.created == []


def test_a_folder_where_the_file_should_go_is_a_clash(
    client: Client, app: IcaEmulator, write: Write
) -> None:
    write("r.fq", 2500)
    app.world.add_data(seed.PROJECT_ID, "/dest/r.fq/", None)
    with pytest.raises(SpecError, match="is a folder"):
        client.upload(["r.fq"], "ica:/dest/r.fq")


def test_staging_under_the_documented_variance(write: Write) -> None:
    # details.path as the parent's path (the spec's wording), pages capped, ...
    app = IcaEmulator(Clock(speed=200.0), variance=True)
    app.uploads.settle = 2.0
    write("v/x.fq", 3000)
    with Client(
        settings={"ica": ica_settings("http://127.0.0.1:9")},
        transport=mock_transport(app),
        policy=FAST,
        plugins=plugins(),
    ) as c:
        c.launch(RunSpec.from_data(spec_data("./v/x.fq")))
        c.launch(RunSpec.from_data(spec_data("./v/x.fq", name="s2")))  # found by checksum
        assert c.engine().tally.sent_in("uploading") == 3000
        assert [d.action for d in c.upload(["v/x.fq"], "ica:/incoming/")] == ["uploaded"]
        assert [d.action for d in c.upload(["v/x.fq"], "ica:/incoming/")] == ["present"]
    assert len(app.created) == 2
