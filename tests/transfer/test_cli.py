"""The issue's "done means", through the CLI, against the ICA emulator served over
HTTP and moto's S3 on 127.0.0.1: a launch with a local FASTQ mount, a 20-row batch
of local FASTQs (each file uploaded once), verified downloads, credentials for the
user's own tools, and each bad input as one line with its exit code."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import Result, Served, spec_data

Cli = Callable[..., Result]
Write = Callable[..., Path]


def _spec(name: str, *sources: str) -> Path:
    path = Path(f"{name}.yaml")
    path.write_text(yaml.safe_dump(spec_data(*sources, name=name)))
    return path


def _creates(served: Served) -> int:
    return sum(":createFileWith" in line for line in served.app.log)


def test_launch_with_a_local_fastq_uploads_launches_and_succeeds(
    served: Served, cli: Cli, write: Write
) -> None:
    write("fastq/S1_R1.fastq.gz", 30_000)
    done = cli(
        "launch",
        str(_spec("s1", "./fastq/S1_R1.fastq.gz")),
        "--wait",
        "--poll",
        "0.05",
        "-o",
        "json",
    )
    assert done.code == 0, done.err
    data = done.json()
    assert data["run"]["state"] == "SUCCEEDED"
    assert _creates(served) == 1
    assert served.app.uploads.bytes_received == 0  # presigned URLs: the bytes went to S3
    assert API_SECRET not in done.out + done.err


API_SECRET = "ica-transfer-test-key-7c1d"


def test_a_20_row_batch_uploads_each_file_once_and_launches_20_runs(
    served: Served, cli: Cli, write: Write
) -> None:
    rows = ["sample,fastq"]
    for i in range(20):
        write(f"fastq/S{i % 10}.fastq.gz", 2000 + i % 10, seed=i % 10)
        rows.append(f"row{i},fastq/S{i % 10}.fastq.gz")
    Path("samples.csv").write_text("\n".join(rows) + "\n")
    template = spec_data("./{fastq}", name="{sample}")
    Path("t.yaml").write_text(yaml.safe_dump(template))
    done = cli("batch", "t.yaml", "samples.csv", "--wait", "--poll", "0.05", "-o", "json")
    assert done.code == 0, done.err
    assert done.json()["summary"] == {"SUCCEEDED": 20}
    assert len(served.app.created) == 20
    assert _creates(served) == 10  # ten distinct files, each once
    again = cli("batch", "t.yaml", "samples.csv", "-q")
    assert again.code == 0, again.err
    assert len(served.app.created) == 20
    assert _creates(served) == 10


def test_a_batch_row_naming_a_missing_file_stops_everything(
    served: Served, cli: Cli, write: Write
) -> None:
    write("fastq/S0.fastq.gz", 100)
    Path("samples.csv").write_text("sample,fastq\nA,fastq/S0.fastq.gz\nB,fastq/gone.fastq.gz\n")
    Path("t.yaml").write_text(yaml.safe_dump(spec_data("./{fastq}", name="{sample}")))
    done = cli("batch", "t.yaml", "samples.csv")
    assert done.code == 2
    assert "row 3:" in done.err
    assert "no such file or folder" in done.err
    assert served.app.log == []  # nothing uploaded, nothing launched


def _launched_with_a_local_fastq(cli: Cli, write: Write) -> Result:
    write("fastq/S1.fastq.gz", 10_000)
    done = cli(
        "launch", str(_spec("s1", "./fastq/S1.fastq.gz")), "--wait", "--poll", "0.05", "-o", "json"
    )
    assert done.code == 0, done.err
    return done


def test_outputs_download_verified_and_an_upload_downloaded_back(
    served: Served, cli: Cli, write: Write
) -> None:
    done = _launched_with_a_local_fastq(cli, write)
    folder = "/" + done.json()["outputs"][0]["path"].split("/")[0]
    rec = served.app.analyses[-1].outputs[0]
    got = cli("data", "download", f"ica:{rec.path}", "out", "-o", "json")
    assert got.code == 0, got.err
    files = got.json()["files"]
    assert {f["verified"] for f in files} == {"md5"}
    assert len(files) == 2
    assert folder
    # a file runhub uploaded comes back checked against its sha256
    up = cli("data", "upload", "fastq/S1.fastq.gz", "ica:/incoming/", "-o", "json")
    assert up.code == 0, up.err
    back = cli("data", "download", "ica:/incoming/S1.fastq.gz", "back", "-o", "json")
    assert back.code == 0, back.err
    assert back.json()["files"][0]["verified"] == "sha256"
    assert Path("back/S1.fastq.gz").read_bytes() == Path("fastq/S1.fastq.gz").read_bytes()
    # a second download skips what is there and matches
    again = cli("data", "download", "ica:/incoming/S1.fastq.gz", "back", "-o", "json")
    assert again.json()["files"][0]["action"] == "skipped"


def test_outputs_download_is_checked_against_the_platforms_checksums(
    served: Served, cli: Cli, write: Write
) -> None:
    done = _launched_with_a_local_fastq(cli, write)
    ref = done.json()["run"]["ref"]
    got = cli("outputs", ref, "--download", "out", "-o", "json")
    assert got.code == 0, got.err
    assert [(f["action"], f["verified"]) for f in got.json()] == [("downloaded", "md5")] * 2
    report = next(Path(f["path"]) for f in got.json() if f["path"].endswith(".report.html"))
    whole = report.read_bytes()
    # same size, other bytes: not skipped on its size, downloaded again and checked
    report.write_bytes(b"x" * len(whole))
    again = cli("outputs", ref, "--download", "out", "-o", "json")
    assert again.code == 0, again.err
    actions = {Path(f["path"]).name: (f["action"], f["verified"]) for f in again.json()}
    assert actions[report.name] == ("downloaded", "md5")
    assert set(actions.values()) == {("downloaded", "md5"), ("skipped", "md5")}
    assert report.read_bytes() == whole
    # bytes that do not match what ICA reports are refused, nothing half-written kept
    rec = next(r for r in served.app.analyses[-1].outputs if r.path.endswith(".report.html"))
    rec.etag = hashlib.md5(b"other bytes", usedforsecurity=False).hexdigest()
    report.unlink()
    refused = cli("outputs", ref, "--download", "out")
    refused.fails(4, "do not match its checksum", "the partial file was removed")
    assert not report.exists()
    assert not report.with_name(report.name + ".part").exists()


def test_data_ls_and_upload_outputs(served: Served, cli: Cli, write: Write) -> None:
    write("d/a.fq", 100)
    write("d/sub/b.fq", 200)
    up = cli("data", "upload", "d", "ica:/incoming/", "-o", "json")
    assert up.code == 0, up.err
    summary = up.json()["summary"]
    assert (summary["files"], summary["bytes"], summary["actions"]) == (2, 300, {"uploaded": 2})
    again = cli("data", "upload", "d", "ica:/incoming/", "-o", "json")
    assert again.json()["summary"]["actions"] == {"present": 2}
    assert again.json()["summary"]["bytes_sent"] == 0
    listed = cli("data", "ls", "ica:/incoming/d/", "-r", "-o", "json")
    assert listed.code == 0, listed.err
    paths = [f["path"] for f in listed.json()]
    assert {"/incoming/d/a.fq", "/incoming/d/sub/b.fq"} <= set(paths)
    flat = cli("data", "ls", "ica:/incoming/d/")
    assert "/incoming/d/sub/" in flat.out
    assert "b.fq" not in flat.out
    ids = cli("data", "ls", "ica:/incoming/d/a.fq", "-q")
    assert ids.out.strip().startswith("fil.")


@pytest.mark.parametrize("fmt", ["aws", "rclone", "env"])
def test_credentials_for_own_tools_print_with_their_expiry(
    served: Served, cli: Cli, write: Write, fmt: str
) -> None:
    write("x.fq", 10)
    assert cli("data", "upload", "x.fq", "ica:/cli-upload/").code == 0
    done = cli("data", "credentials", "ica:/cli-upload/", "--format", fmt)
    assert done.code == 0, done.err
    assert "expires" in done.out
    marker = {
        "aws": "aws_session_token = ",
        "rclone": "session_token = ",
        "env": "AWS_SESSION_TOKEN=",
    }
    assert marker[fmt] in done.out
    shaped = cli("data", "credentials", "ica:/cli-upload/", "-o", "json").json()
    assert shaped["expires"].endswith("Z")
    assert shaped["s3_uri"].startswith(f"s3://{served.bucket.bucket}/")
    assert shaped["rclone"]["path"].endswith("/cli-upload/")


def test_bad_input_is_one_line_with_its_exit_code(
    served: Served, cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("data", "upload", "nope.fq", "ica:/x/").fails(2, "no such file or folder")
    cli("launch", str(_spec("s1", "./nope.fq"))).fails(2, "mounts.0.source", "no such file")
    cli("data", "upload", "nope.fq", "nowhere").fails(2, "BACKEND:PATH")
    cli("data", "download", "ica:/not/there/", "out").fails(4, "no file or folder")
    write("x.fq", 10)
    Path("afile").write_text("")
    cli("data", "download", "ica:/reference/", "afile").fails(2, "is a file")
    Path("fifo.fq").unlink(missing_ok=True)
    import os

    os.mkfifo("fifo.fq")
    cli("data", "upload", "fifo.fq", "ica:/x/").fails(2, "not a regular file")
    s3, served.app.uploads.s3 = served.app.uploads.s3, None  # its own URLs, to refuse them
    served.app.uploads.refuse_uploads(403, 403)
    cli("launch", str(_spec("s2", "./x.fq"))).fails(3, "refused the upload URL")
    assert served.app.created == []
    assert cli("launch", str(_spec("s2", "./x.fq"))).code == 0  # a re-run completes
    served.app.uploads.s3 = s3
    # a large file without boto3 says exactly what to install
    write("big.fq", 6 << 20)
    monkeypatch.setitem(sys.modules, "boto3", None)
    monkeypatch.setenv("RUNHUB_ICA_MULTIPART_THRESHOLD", str(5 << 20))
    creates = _creates(served)
    hint = "pip install boto3 (from a clone of runhub: pip install './plugins/ica[s3]')"
    cli("launch", str(_spec("s3", "./big.fq"))).fails(2, hint)
    assert len(served.app.created) == 1
    assert _creates(served) == creates  # found out before ICA created anything


def test_a_local_mount_on_code_ocean_names_the_ways_in(
    cli: Cli, write: Write, monkeypatch: Any
) -> None:
    write("x.fq", 10)
    monkeypatch.setenv("CODEOCEAN_API_TOKEN", "cop_test")
    monkeypatch.setenv("CODEOCEAN_URL", "http://127.0.0.1:9")
    Path("co.yaml").write_text(
        yaml.safe_dump(
            {
                "backend": "codeocean",
                "pipeline": "3f2f5a8e-1c61-4f0b-9a55-6d1f2c7b9e01",
                "mounts": [{"source": "./x.fq"}],
            }
        )
    )
    cli("launch", "co.yaml").fails(2, "runhub capture", "S3-sourced data asset")
