"""``runhub data``: upload, list, download, and temporary credentials for own tools.

Uploads and downloads are parallel across files, resumable (run the same command
again after an interruption) and checked (checksums recorded on upload, verified on
download); a terminal shows one progress bar, ``-q`` prints ids only, ``-o json`` a
summary. The work is the library's (``Client.upload`` / ``data_list`` /
``download`` / ``data_credentials``, in :mod:`runhub.transfer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.session import Session, output_option, pass_session

if TYPE_CHECKING:
    from runhub.transfer.model import FolderCredentials


@click.group()
def data() -> None:
    """Move data to and from a platform (local files as ICA data, downloads).

    \b
    Examples:
      runhub data upload reads/ ica:/projects/wgs/fastqs/
      runhub data ls ica:/projects/wgs/ --recursive
      runhub data download ica:/runs/sample-A/ results/
      runhub data credentials ica:/projects/wgs/ --format rclone
    """


def _quiet(func: Any) -> Any:
    return click.option("-q", "--quiet", is_flag=True, help="Print data ids only; no bar.")(func)


def _jobs(func: Any) -> Any:
    return click.option(
        "-j",
        "--jobs",
        type=click.IntRange(1, 64),
        default=4,
        show_default=True,
        help="Files transferred at once.",
    )(func)


@data.command()
@click.argument("paths", metavar="LOCAL... BACKEND:PATH", nargs=-1, required=True)
@_jobs
@output_option
@_quiet
@pass_session
def upload(session: Session, paths: tuple[str, ...], jobs: int, output: str, quiet: bool) -> None:
    """Upload LOCAL files and folders to BACKEND:PATH.

    PATH ending in / is a folder (LOCAL files land in it, folders as sub-folders);
    with one LOCAL file, a PATH without / is the file's new name. A file already
    there with the same content is left as it is; one with other content is an
    error (nothing is overwritten). Large files go by S3 multipart and resume
    from their completed parts when the command is run again.
    """
    from runhub.cli.helpers.transfers import shown

    if len(paths) < 2:
        raise click.UsageError("give at least one LOCAL path and a BACKEND:PATH")
    *sources, dest = paths
    client = session.client()
    client.engine().files_at_once = jobs
    with shown(client, enabled=output != "json" and not quiet):
        done = client.upload(sources, dest)
    tally = client.engine().tally
    if quiet:
        for item in done:
            click.echo(item.remote.id)
        return
    summary = {
        "files": len(done),
        "bytes": sum(d.item.size for d in done),
        "bytes_sent": tally.sent_in("uploading"),
        "actions": _count(d.action for d in done),
    }
    if output == "json":
        render.echo_json({"files": [d.to_dict() for d in done], "summary": summary})
        return
    click.echo(
        render.table(
            ("LOCAL", "PATH", "SIZE", "ACTION", "ID"),
            (
                (d.item.path, d.remote.path, render.size(d.item.size), d.action, d.remote.id)
                for d in done
            ),
        )
    )
    click.echo(_summary_line(summary))


@data.command(name="ls")
@click.argument("where", metavar="BACKEND:PATH")
@click.option("-r", "--recursive", is_flag=True, help="Everything below, not just the folder.")
@output_option
@_quiet
@pass_session
def ls(session: Session, where: str, recursive: bool, output: str, quiet: bool) -> None:
    """List a folder (or show a file) on BACKEND:PATH."""
    found = session.client().data_list(where, recursive=recursive)
    if quiet:
        for item in found:
            click.echo(item.id)
        return
    if output == "json":
        render.echo_json([f.to_dict() for f in found])
        return
    if not found:
        click.echo("(empty)")
        return
    click.echo(
        render.table(
            ("PATH", "SIZE", "STATUS", "ID"),
            ((f.path, render.size(f.size), f.status, f.id) for f in found),
        )
    )


@data.command()
@click.argument("source", metavar="BACKEND:PATH_OR_ID")
@click.argument("into", metavar="DIR", type=click.Path(path_type=str))
@_jobs
@output_option
@_quiet
@pass_session
def download(session: Session, source: str, into: str, jobs: int, output: str, quiet: bool) -> None:
    """Download a file, or everything under a folder, into DIR.

    A folder's contents land directly in DIR. Files already there complete and
    matching are skipped, partial ones (NAME.part) resumed; every file is checked
    against the strongest checksum the platform has for it (sha256 recorded by
    runhub, else the storage's MD5) and a mismatch is an error.
    """
    from runhub.cli.helpers.transfers import shown

    client = session.client()
    client.engine().files_at_once = jobs
    with shown(client, enabled=output != "json" and not quiet):
        done = client.download(source, into)
    if quiet:
        for item in done:
            click.echo(str(item.path))
        return
    if output == "json":
        render.echo_json(
            {
                "files": [d.to_dict() for d in done],
                "summary": {
                    "files": len(done),
                    "bytes": sum(d.size for d in done),
                    "verified": _count(d.verified for d in done),
                },
            }
        )
        return
    click.echo(
        render.table(
            ("FILE", "SIZE", "ACTION", "VERIFIED"),
            ((d.path, render.size(d.size), d.action, d.verified) for d in done),
        )
        if done
        else "(no files)"
    )


@data.command()
@click.argument("where", metavar="BACKEND:PATH")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["aws", "rclone", "env"]),
    default="aws",
    show_default=True,
    help="An AWS credentials file section, an rclone remote, or shell exports.",
)
@click.option("--read-only", is_flag=True, help="Credentials that can only read.")
@click.option("--profile-name", default="runhub", show_default=True, help="Section/remote name.")
@output_option
@pass_session
def credentials(
    session: Session, where: str, fmt: str, read_only: bool, profile_name: str, output: str
) -> None:
    """Print temporary credentials for BACKEND:PATH, for the AWS CLI or rclone.

    They are the platform's (ICA: createTemporaryCredentials, valid 36 hours);
    the expiry is printed with them. Secrets go to stdout only.
    """
    creds = session.client().data_credentials(where, read_only=read_only)
    if output == "json":
        render.echo_json(_creds_json(creds))
        return
    click.echo(_render_creds(creds, fmt, profile_name))


def _count(values: Any) -> dict[str, int]:
    found: dict[str, int] = {}
    for value in values:
        found[value] = found.get(value, 0) + 1
    return found


def _summary_line(summary: dict[str, Any]) -> str:
    actions = ", ".join(f"{n} {a}" for a, n in sorted(summary["actions"].items()))
    return (
        f"{summary['files']} file{'' if summary['files'] == 1 else 's'},"
        f" {render.size(summary['bytes'])}: {actions};"
        f" {render.size(summary['bytes_sent'])} sent"
    )


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _creds_json(creds: FolderCredentials) -> dict[str, Any]:
    s3 = creds.s3
    return {
        "location": creds.location,
        "expires": _iso(creds.expires_at),
        "s3_uri": f"s3://{s3.bucket}/{s3.prefix}" if s3 else None,
        "aws": None
        if s3 is None
        else {
            "access_key_id": s3.access_key,
            "secret_access_key": s3.secret_key,
            "session_token": s3.session_token,
            "region": s3.region,
            "bucket": s3.bucket,
            "prefix": s3.prefix,
            "server_side_encryption": s3.sse,
        },
        "rclone": {"config": creds.rclone, "path": creds.rclone_prefix} if creds.rclone else None,
    }


def _render_creds(creds: FolderCredentials, fmt: str, name: str) -> str:
    s3 = creds.s3
    expires = _iso(creds.expires_at) or "unknown"
    uri = f"s3://{s3.bucket}/{s3.prefix}" if s3 else ""
    if fmt == "rclone":
        if not creds.rclone:
            raise click.ClickException("the platform gave no rclone credentials")
        lines = [f"# {creds.location}: expires {expires}", f"[{name}]"]
        lines += [f"{k} = {v}" for k, v in creds.rclone.items()]
        lines.append(f"# use as {name}:{creds.rclone_prefix or ''} (with --s3-no-check-bucket)")
        return "\n".join(lines)
    if s3 is None:
        raise click.ClickException("the platform gave no S3 credentials")
    if fmt == "env":
        lines = [
            f"# {creds.location}: {uri} (expires {expires})",
            f"export AWS_ACCESS_KEY_ID={s3.access_key}",
            f"export AWS_SECRET_ACCESS_KEY={s3.secret_key}",
        ]
        if s3.session_token:
            lines.append(f"export AWS_SESSION_TOKEN={s3.session_token}")
        lines.append(f"export AWS_DEFAULT_REGION={s3.region}")
        return "\n".join(lines)
    lines = [
        f"# {creds.location}: {uri} (expires {expires}); for ~/.aws/credentials",
        f"[{name}]",
        f"aws_access_key_id = {s3.access_key}",
        f"aws_secret_access_key = {s3.secret_key}",
    ]
    if s3.session_token:
        lines.append(f"aws_session_token = {s3.session_token}")
    lines.append(f"region = {s3.region}")
    return "\n".join(lines)


COMMANDS = (data,)
