"""Temporary credentials that expire: renewed before they run out, and once more
when S3 refuses them mid-upload; refused again, an AuthError that launches nothing,
and a re-run that resumes. S3 is moto with its IAM checks on (credentials are real
STS sessions of IAM roles; "expiring" one removes its role's permission)."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import runhub_ica.upload
from runhub_ica.emulator import IcaEmulator
from runhub_ica.emulator.uploads import S3Bucket

from runhub.errors import AuthError
from runhub.spec import RunSpec
from runhub.testing.emulator import EmulatorServer
from runhub.transfer.progress import Tally

from .conftest import Served, spec_data

MIB = 1 << 20
SMALL = {"multipart_threshold": 5 * MIB, "part_size": 5 * MIB, "part_concurrency": 1}
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


class Roles:
    """Issues STS sessions of fresh IAM roles; ``expire(n)`` revokes the n-th."""

    def __init__(self, url: str, admin: dict[str, str]) -> None:
        self.kw = {"endpoint_url": url, "region_name": "us-east-1", **admin}
        self.names: list[str] = []
        self.broken = False
        self.tag = os.urandom(4).hex()  # moto's IAM outlives a test
        self._count = itertools.count()

    def mint(self, prefix: str) -> tuple[str, str, str]:
        iam = boto3.client("iam", **self.kw)
        name = f"ica-upload-{self.tag}-{next(self._count)}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
        if not self.broken:
            iam.put_role_policy(RoleName=name, PolicyName="s3", PolicyDocument=ALLOW_ALL)
        self.names.append(name)
        arn = f"arn:aws:iam::123456789012:role/{name}"
        c = boto3.client("sts", **self.kw).assume_role(RoleArn=arn, RoleSessionName="runhub-test")
        creds = c["Credentials"]
        return creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]

    def expire(self, index: int) -> None:
        boto3.client("iam", **self.kw).delete_role_policy(
            RoleName=self.names[index], PolicyName="s3"
        )


@pytest.fixture
def roles(moto_url: str, app: IcaEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Roles]:
    root = {"aws_access_key_id": "x", "aws_secret_access_key": "y", "region_name": "us-east-1"}
    iam = boto3.client("iam", endpoint_url=moto_url, **root)
    user = f"emulator-{len(iam.list_users()['Users'])}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="all", PolicyDocument=ALLOW_ALL)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    admin = {
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }
    name = f"auth-bucket-{user}"
    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", **admin).create_bucket(
        Bucket=name
    )
    made = Roles(moto_url, admin)
    app.uploads.use_s3(
        S3Bucket(
            moto_url,
            name,
            access_key=admin["aws_access_key_id"],
            secret_key=admin["aws_secret_access_key"],
            mint=made.mint,
        )
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    httpx.post(f"{moto_url}/moto-api/reset-auth", content=b"0")  # every request checked
    try:
        yield made
    finally:
        httpx.post(f"{moto_url}/moto-api/reset-auth", content=b"inf")


@pytest.fixture
def served_auth(
    app: IcaEmulator, roles: Roles, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    assert app.uploads.s3 is not None
    with EmulatorServer(app) as server:
        done = Served(app, server, app.uploads.s3)
        for key, value in done.env.items():
            monkeypatch.setenv(key, value)
        yield done


class AfterFirstPart(Tally):
    """Runs ``then`` once, after the first part has been sent."""

    def __init__(self, then: Callable[[], Any]) -> None:
        super().__init__()
        self.then = then

    def sent(self, nbytes: int) -> None:
        super().sent(nbytes)
        if self.phase == "uploading" and self.then is not None:
            then, self.then = self.then, None  # type: ignore[assignment]
            then()


def test_credentials_refused_mid_upload_are_renewed_once(
    served_auth: Served, roles: Roles, write: Callable[..., Path]
) -> None:
    write("big.fq", 12 * MIB)
    with served_auth.client(**SMALL) as client:
        client.engine().progress = AfterFirstPart(lambda: roles.expire(0))
        client.launch(RunSpec.from_data(spec_data("./big.fq")))
    rec = next(r for r in served_auth.app.world.data.values() if r.path.endswith("/big.fq"))
    assert rec.status == "AVAILABLE"
    assert served_auth.app.uploads.credentials_issued == [rec.id, rec.id]  # create + renewal
    assert len(served_auth.app.created) == 1


def test_credentials_refused_again_launch_nothing_and_a_rerun_resumes(
    served_auth: Served, roles: Roles, write: Callable[..., Path]
) -> None:
    write("big.fq", 12 * MIB)

    def expire() -> None:
        roles.expire(0)
        roles.broken = True  # the renewed ones are no good either

    with served_auth.client(**SMALL) as client:
        client.engine().progress = AfterFirstPart(expire)
        with pytest.raises(AuthError, match="refused the temporary credentials") as info:
            client.launch(RunSpec.from_data(spec_data("./big.fq")))
    assert info.value.exit_code == 3
    assert served_auth.app.created == []
    for name in roles.names:
        assert name not in str(info.value)
    roles.broken = False
    with served_auth.client(**SMALL) as client:
        client.launch(RunSpec.from_data(spec_data("./big.fq")))
        assert client.engine().tally.sent_in("uploading") == 7 * MIB  # parts 2 and 3
    assert len(served_auth.app.created) == 1


def test_credentials_near_their_expiry_are_renewed_before_use(
    served: Served, write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runhub_ica.upload, "CREDENTIALS_LIFETIME", 60.0)  # < the margin
    write("big.fq", 11 * MIB)
    with served.client(**SMALL) as client:
        client.launch(RunSpec.from_data(spec_data("./big.fq")))
    issued = served.app.uploads.credentials_issued
    assert len(issued) >= 2  # renewed before parts were sent with them
    assert len(served.app.created) == 1
