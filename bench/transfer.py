"""Uploads: runhub vs boto3's own TransferManager on the same S3 endpoint.

S3 is moto's server in its own process on 127.0.0.1; the ICA emulator (serving the
API calls: create the file, temporary credentials, status) runs in this process and
hands out presigned URLs and temporary credentials for that moto bucket. Each
upload runs as a whole process, as a user would run it:

- runhub: ``runhub data upload FILES ica:/bench/<round>/`` (threshold and part size
  as configured: small files by presigned PUT, large by S3 multipart);
- peer: a Python process calling boto3's ``TransferManager`` with its defaults
  (``TransferConfig()``: the AWS CLI's engine, what ICA's "Data Transfer Options"
  page recommends) with the same temporary credentials from ICA, given to it
  for free (the transfer engines alone);
- peer, whole job (1 GiB only): a Python process doing what runhub's upload does,
  by hand as that page describes: ``createFileWithTemporaryCredentials`` (httpx),
  TransferManager to the object, then ICA asked until the file is AVAILABLE;

rounds interleaved in ABBA order (runhub then peer, peer then runhub, …), medians
reported, each round to a fresh prefix so nothing is skipped; objects are deleted
between rounds. Each upload's time is split into phases at the S3 server (moto
logs when each request came and was answered, bench/_s3log.py): before the first
S3 request, sending the data, finishing (CompleteMultipartUpload), after S3. The peak
resident memory of each upload process comes from ``wait4``.

Then: a 1 GB runhub upload killed (SIGKILL) once 60% of its parts are recorded and
run again (bytes sent by the re-run vs what S3 held at the kill); and content
addressing: two batches of runs mounting the same 20 local files (bytes sent by
the second).

Usage: python bench/transfer.py [--files 20] [--file-mb 50] [--big-mb 1024]
       [--rounds 6] [--part-mb 16] [--threshold-mb 64] [--concurrency 8]
Writes bench/results/transfer.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import table, write

MIB = 1 << 20
PEER = r"""
import sys, json, boto3
from boto3.s3.transfer import TransferConfig
from s3transfer.manager import TransferManager
creds = json.loads(sys.argv[1])
client = boto3.session.Session().client(
    "s3",
    aws_access_key_id=creds["access_key_id"],
    aws_secret_access_key=creds["secret_access_key"],
    aws_session_token=creds["session_token"],
    region_name=creds["region"],
)
with TransferManager(client, TransferConfig()) as manager:
    folder = creds["prefix"] + sys.argv[2] + "/"
    futures = [
        manager.upload(path, creds["bucket"], folder + path.rsplit("/", 1)[-1])
        for path in sys.argv[3:]
    ]
    for future in futures:
        future.result()
"""

#: The whole job the way ICA's "Data Transfer Options" page has a user do it by hand:
#: create the file with temporary credentials, TransferManager to the object, then
#: ask ICA until the file is AVAILABLE (what runhub's upload also ends with).
PEER_ICA = r"""
import os, sys, time, boto3, httpx
from boto3.s3.transfer import TransferConfig
from s3transfer.manager import TransferManager
v3 = "application/vnd.illumina.v3+json"
base = os.environ["ICAV2_SERVER_URL"].rstrip("/") + "/ica/rest/api/projects/"
base += os.environ["ICAV2_PROJECT_ID"]
ica = httpx.Client(headers={"X-API-Key": os.environ["ICAV2_X_API_KEY"], "Accept": v3})
folder, path = sys.argv[1], sys.argv[2]
name = path.rsplit("/", 1)[-1]
made = ica.post(
    base + "/data:createFileWithTemporaryCredentials",
    json={"name": name, "folderPath": folder},
    headers={"Content-Type": v3},
).raise_for_status().json()
aws = made["tempCredentials"]["awsTempCredentials"]
client = boto3.session.Session().client(
    "s3",
    aws_access_key_id=aws["accessKey"],
    aws_secret_access_key=aws["secretKey"],
    aws_session_token=aws["sessionToken"],
    region_name=aws["region"],
)
prefix = aws["objectPrefix"]
key = prefix + name if prefix.endswith("/") else prefix
with TransferManager(client, TransferConfig()) as manager:
    manager.upload(path, aws["bucket"], key).result()
data = base + "/data/" + made["data"]["id"]
while ica.get(data).raise_for_status().json()["data"]["details"]["status"] != "AVAILABLE":
    time.sleep(0.1)
"""
#: The peers; the ICA one uploads one file (the 1 GiB comparison).
TM = "TransferManager"
TM_ICA = "TM + ICA calls"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server(log: Path) -> Any:
    """moto's S3 server in its own process, logging each request's times (_s3log.py)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_s3log.py")), str(port), str(log)],
        env={**os.environ, "MOTO_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


TRANSFER_OPS = (
    "PutObject",
    "UploadPart",
    "CreateMultipartUpload",
    "CompleteMultipartUpload",
    "ListParts",
)
#: The phases of one upload process, from moto's request log (see phases()).
PHASES = ("before S3", "S3 data", "S3 finishing", "after S3")


def phases(log: Path, started: float, ended: float) -> dict[str, float]:
    """Split one upload process's wall time [started, ended] at the S3 server's log.

    before S3: process start to the first S3 request (interpreter, imports, the
    platform's API calls); S3 data: to the last part or PUT answered; S3 finishing:
    to the last S3 answer (CompleteMultipartUpload: moto assembles the object);
    after S3: to the process's exit (the platform's availability check, runhub's
    tag, the interpreter's exit).
    """
    lines = [json.loads(line) for line in log.read_text().splitlines() if line]
    # the uploader's own requests (not the ICA emulator's HEAD checking the object)
    mine = [x for x in lines if started <= x["start"] <= ended and x["op"] in TRANSFER_OPS]
    data = [x for x in mine if x["op"] in ("UploadPart", "PutObject")]
    if not mine or not data:
        return dict.fromkeys(PHASES, float("nan"))
    first = min(x["start"] for x in mine)
    data_end = max(x["end"] for x in data)
    last = max(x["end"] for x in mine)
    return {
        "before S3": first - started,
        "S3 data": data_end - first,
        "S3 finishing": last - data_end,
        "after S3": ended - last,
    }


def make_file(path: Path, size: int, seed: int) -> None:
    """Incompressible-looking bytes, written in 8 MiB blocks."""
    import hashlib

    block = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(8 * MIB // 32))
    with path.open("wb") as out:
        left = size
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)


#: Runs a command and reports its peak RSS. A child's ru_maxrss counts what its
#: parent held when it was forked, so the benchmark itself is kept out of it by
#: this small launcher (python -S, a few MiB) standing in between.
LAUNCH = (
    "import os, sys\n"
    "pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "sys.stderr.write(f'\\nCPU-S {usage.ru_utime + usage.ru_stime}\\n')\n"
    "sys.stderr.write(f'\\nPEAK-RSS-KIB {usage.ru_maxrss}\\n')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def timed(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(seconds, peak RSS in bytes, stdout) of one whole process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCH, *command], env=env, capture_output=True
    )
    seconds = time.perf_counter() - started
    err = done.stderr.decode()
    if done.returncode != 0:
        raise RuntimeError(f"{command[:5]} failed ({done.returncode}): {err[-400:]}")
    peak = int(err.rsplit("PEAK-RSS-KIB ", 1)[1].split()[0]) * 1024
    CPU[0] = float(err.rsplit("CPU-S ", 1)[1].split()[0])
    return seconds, peak, done.stdout.decode()


#: The CPU seconds (user + system) of the last process timed.
CPU = [0.0]


def delete_prefix(admin: Any, bucket: str, prefix: str) -> None:
    keys = []
    for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [{"Key": o["Key"]} for o in page.get("Contents", [])]
    for start in range(0, len(keys), 1000):
        admin.delete_objects(Bucket=bucket, Delete={"Objects": keys[start : start + 1000]})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--file-mb", type=float, default=50)
    parser.add_argument("--big-mb", type=float, default=1024)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--part-mb", type=int, default=16)
    parser.add_argument("--threshold-mb", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ca-mb", type=float, default=10, help="file size, content addressing")
    args = parser.parse_args(argv)

    import boto3
    from runhub_ica.emulator import IcaEmulator, seed
    from runhub_ica.emulator.uploads import S3Bucket

    from runhub.testing.emulator import Clock, EmulatorServer

    work = Path(tempfile.mkdtemp(prefix="runhub-bench-transfer-"))
    small = [work / "small" / f"S{i:02d}_R1.fastq.gz" for i in range(args.files)]
    small[0].parent.mkdir()
    for i, path in enumerate(small):
        make_file(path, int(args.file_mb * 1e6), i)
    fresh = [work / "ca" / f"C{i:02d}.fastq.gz" for i in range(args.files)]
    fresh[0].parent.mkdir()
    for i, path in enumerate(fresh):
        make_file(path, int(args.ca_mb * 1e6), 1000 + i)
    big = work / "big" / "sample.bam"
    big.parent.mkdir()
    make_file(big, int(args.big_mb * MIB), 999)
    results: dict[str, Any] = {"args": vars(args)}

    s3_log = work / "s3-requests.jsonl"
    with moto_server(s3_log) as s3_url:
        bucket = S3Bucket(s3_url, "bench-bucket")
        admin = boto3.client(
            "s3",
            endpoint_url=s3_url,
            aws_access_key_id=bucket.access_key,
            aws_secret_access_key=bucket.secret_key,
            region_name=bucket.region,
        )
        admin.create_bucket(Bucket=bucket.bucket)
        app = IcaEmulator(Clock(speed=1000.0))
        app.uploads.settle = 0.0
        app.uploads.use_s3(bucket)
        with EmulatorServer(app) as server:
            env = {
                **os.environ,
                "ICAV2_SERVER_URL": server.url,
                "ICAV2_X_API_KEY": "bench-key-0000",
                "ICAV2_PROJECT_ID": seed.PROJECT_ID,
                "AWS_ENDPOINT_URL_S3": s3_url,
                "RUNHUB_HOME": str(work / "home"),
                "RUNHUB_CONFIG": str(work / "none.toml"),
                "RUNHUB_ICA_PART_SIZE": str(args.part_mb * MIB),
                "RUNHUB_ICA_MULTIPART_THRESHOLD": str(args.threshold_mb * MIB),
                "RUNHUB_ICA_PART_CONCURRENCY": str(args.concurrency),
                "AWS_CONFIG_FILE": str(work / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
            }
            creds = _credentials(env)
            prefix = creds["prefix"]
            for name, files, tools in (
                ("small", small, ("runhub", TM)),
                ("big", [big], ("runhub", TM, TM_ICA)),
            ):
                s3 = (admin, bucket.bucket, prefix, s3_log)
                results[name] = _compare(name, files, env, creds, args.rounds, *s3, tools)
            results["resume"] = _resume(big, env, admin, bucket.bucket, work, args)
            results["content_addressing"] = _content_addressing(fresh, env)
            results["emulator_requests"] = len(app.log)
    _print(results, args)
    write("transfer", results)
    return results


def _credentials(env: dict[str, str]) -> dict[str, Any]:
    """The temporary credentials ICA gives for /bench/ (what a user would use)."""
    cmd = [sys.executable, "-m", "runhub.cli", "data", "upload", __file__, "ica:/bench/"]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-m", "runhub.cli", "data", "credentials", "ica:/bench/", "-o", "json"],
        env=env,
        check=True,
        capture_output=True,
    ).stdout
    got = json.loads(out)
    aws = got["aws"]
    return {
        "access_key_id": aws["access_key_id"],
        "secret_access_key": aws["secret_access_key"],
        "session_token": aws["session_token"],
        "region": aws["region"],
        "bucket": aws["bucket"],
        "prefix": aws["prefix"],
    }


def _compare(
    name: str,
    files: list[Path],
    env: dict[str, str],
    creds: dict[str, Any],
    rounds: int,
    admin: Any,
    bucket: str,
    prefix: str,
    s3_log: Path,
    tools: tuple[str, ...] = ("runhub", TM),
) -> dict[str, Any]:
    size = sum(f.stat().st_size for f in files)
    # once untimed: runhub hashes each file once (the checksums are then kept)
    first, first_peak, _ = timed(
        [
            sys.executable,
            "-m",
            "runhub.cli",
            "data",
            "upload",
            *map(str, files),
            f"ica:/bench/{name}-cold/",
        ],
        env,
    )
    delete_prefix(admin, bucket, prefix)
    times: dict[str, list[float]] = {tool: [] for tool in tools}
    peaks: dict[str, list[int]] = {tool: [] for tool in tools}
    cpu: dict[str, list[float]] = {tool: [] for tool in tools}
    split: dict[str, list[dict[str, float]]] = {tool: [] for tool in tools}
    for r in range(rounds):
        # ABBA: who goes first alternates, so a drift in the machine's speed during
        # the run (this VM's drifts by up to 2x) does not favour one side
        for tool in tools if r % 2 == 0 else tools[::-1]:
            dest = f"{name}-{tool.replace(' ', '')}-{r}"
            if tool == "runhub":
                cmd = [
                    sys.executable,
                    "-m",
                    "runhub.cli",
                    "data",
                    "upload",
                    "-q",
                    *map(str, files),
                    f"ica:/bench/{dest}/",
                ]
            elif tool == TM_ICA:
                cmd = [sys.executable, "-c", PEER_ICA, f"/bench/{dest}/", str(files[0])]
            else:
                cmd = [sys.executable, "-c", PEER, json.dumps(creds), dest, *map(str, files)]
            wall_start = time.time()
            seconds, peak, _ = timed(cmd, env)
            split[tool].append(phases(s3_log, wall_start, time.time()))
            times[tool].append(seconds)
            peaks[tool].append(peak)
            cpu[tool].append(CPU[0])
            delete_prefix(admin, bucket, prefix)
    medians = {tool: statistics.median(t) for tool, t in times.items()}
    return {
        "files": len(files),
        "bytes": size,
        "seconds": times,
        "median_seconds": medians,
        "mb_per_s": {tool: size / 1e6 / s for tool, s in medians.items()},
        "ratio": medians[TM] / medians["runhub"],
        "ratios": {tool: medians[tool] / medians["runhub"] for tool in tools[1:]},
        "peak_rss": {tool: max(p) for tool, p in peaks.items()},
        "cpu_seconds": {tool: statistics.median(c) for tool, c in cpu.items()},
        "phases": split,
        "median_phases": {
            tool: {ph: statistics.median(r[ph] for r in rows) for ph in PHASES}
            for tool, rows in split.items()
        },
        "runhub_first_upload_seconds_with_hashing": first,
        "runhub_first_upload_peak_rss": first_peak,
    }


def _resume(
    big: Path, env: dict[str, str], admin: Any, bucket: str, work: Path, args: Any
) -> dict[str, Any]:
    from runhub.transfer.store import TransferStore

    size = big.stat().st_size
    part = args.part_mb * MIB
    count = -(-size // part)
    store_path = work / "home" / "transfers.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "runhub.cli",
        "data",
        "upload",
        "-q",
        str(big),
        "ica:/bench/resume/",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    recorded: dict[int, tuple[str, int]] = {}
    state = None
    while proc.poll() is None:
        pending = [
            s for s in TransferStore(store_path).pending() if s.dest.endswith("/resume/sample.bam")
        ]
        if pending:
            state = pending[0]
            recorded = TransferStore(store_path).parts(state.dest)
            if len(recorded) >= 0.6 * count:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.01)
    proc.wait()
    time.sleep(2.0)  # parts whose bytes reached moto before the kill may still land
    if state is None or not recorded:
        raise RuntimeError("the upload ended before it could be killed at 60%")
    held = admin.list_parts(Bucket=bucket, Key=state.object_key, UploadId=state.upload_id).get(
        "Parts", []
    )
    held_bytes = sum(p["Size"] for p in held)
    recorded_bytes = sum(s for _, s in recorded.values())
    seconds, _, out = timed([*cmd[:-3], "-o", "json", str(big), "ica:/bench/resume/"], env)
    summary = json.loads(out)["summary"]
    sent = summary["bytes_sent"]
    return {
        "bytes": size,
        "part_size": part,
        "parts": count,
        "in_flight_bound_bytes": args.concurrency * part,
        "recorded_at_kill_bytes": recorded_bytes,
        "held_by_s3_at_kill_bytes": held_bytes,
        "rerun_sent_bytes": sent,
        "rerun_seconds": seconds,
        # bytes of parts S3 already held that the re-run sent again (0 when resuming works)
        "resent_held_bytes": max(0, sent - (size - held_bytes)),
    }


def _content_addressing(files: list[Path], env: dict[str, str]) -> dict[str, Any]:
    """Two batches of runs mounting the same files: bytes the second one sends."""
    import asyncio

    from runhub.aio import AsyncClient
    from runhub.spec import RunSpec

    specs = [
        RunSpec.from_data(
            {
                "backend": "ica",
                "pipeline": "dragen-germline-4-3-6",
                "name": f"row{i}",
                "mounts": [{"source": f"file:{f}", "input": "fastqs"}],
            }
        )
        for i, f in enumerate(files)
    ]
    out: dict[str, Any] = {}
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        for label in ("first", "second"):

            async def stage() -> tuple[float, int, int]:
                async with AsyncClient() as client:
                    started = time.perf_counter()
                    await client.stage(specs)
                    tally = client.engine().tally
                    return (
                        time.perf_counter() - started,
                        tally.sent_in("uploading"),
                        tally.bytes_skipped.get("uploading", 0),
                    )

            seconds, sent, skipped = asyncio.run(stage())
            out[label] = {"seconds": seconds, "bytes_sent": sent, "bytes_found": skipped}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return out


def _print(results: dict[str, Any], args: Any) -> None:
    rows = []
    for name, label in (
        ("small", f"{args.files} x {args.file_mb:g} MB"),
        ("big", f"1 x {args.big_mb:g} MiB"),
    ):
        got = results[name]
        seconds, rate, peak = got["median_seconds"], got["mb_per_s"], got["peak_rss"]
        for tool, ratio in got["ratios"].items():
            rows.append(
                [
                    label,
                    f"{seconds['runhub']:.2f} s ({rate['runhub']:.0f} MB/s)",
                    tool,
                    f"{seconds[tool]:.2f} s ({rate[tool]:.0f} MB/s)",
                    f"{ratio:.2f}x",
                    f"{peak['runhub'] / MIB:.0f} / {peak[tool] / MIB:.0f} MiB",
                ]
            )
    header = ("upload", "runhub", "peer", "peer's time", "speed ratio", "peak RSS runhub / peer")
    print(table(header, rows))
    split_rows = []
    for name in ("small", "big"):
        for tool, got in results[name]["median_phases"].items():
            wall = results[name]["median_seconds"][tool]
            split_rows.append([name, tool, *(f"{got[ph]:.2f}" for ph in PHASES), f"{wall:.2f}"])
    print("\nmedian seconds per phase (at the S3 server):")
    print(table(("upload", "tool", *PHASES, "wall"), split_rows))
    resume = results["resume"]
    print(
        f"\nkilled at {resume['recorded_at_kill_bytes'] / resume['bytes']:.0%} recorded: S3 held"
        f" {resume['held_by_s3_at_kill_bytes'] / MIB:.0f} MiB;"
        f" re-run sent {resume['rerun_sent_bytes'] / MIB:.0f} MiB"
        f" (held parts re-sent: {resume['resent_held_bytes']} bytes; in-flight bound"
        f" {resume['in_flight_bound_bytes'] / MIB:.0f} MiB)"
    )
    ca = results["content_addressing"]
    print(
        f"content addressing: first batch sent {ca['first']['bytes_sent'] / 1e6:.0f} MB,"
        f" second {ca['second']['bytes_sent']} bytes ({ca['second']['seconds']:.2f} s)"
    )


if __name__ == "__main__":
    main()
