"""The targets of issues 7 and 16 against the latest results: a Markdown table.

Reads bench/results/{launch,watch,ratelimit,startup,translate,transfer}.json (or the folder
in ``$RUNHUB_BENCH_RESULTS``) and prints one row per target: runhub's figure, the
peer's figure, their ratio, and whether the target is met.

Usage: python bench/report.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from _common import RESULTS
from startup import FLOOR

NAMES = {"ica": "ICA", "codeocean": "Code Ocean"}


def load(name: str) -> dict[str, Any] | None:
    folder = Path(os.environ.get("RUNHUB_BENCH_RESULTS") or RESULTS)
    path = folder / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def launch_rows(d: dict[str, Any]) -> list[list[str]]:
    rows = []
    n, bound, c = d["n"], d["bound"], d["concurrency"]
    for backend in ("ica", "codeocean"):
        got = d[backend]
        sdk = got["official SDK loop"]
        for client in ("runhub launch_many", "runhub batch"):
            if client not in got:
                rows.append([f"launch {NAMES[backend]}: `{client}`", "missing", "", "", ""])
                continue
            r = got[client]
            speedup = sdk["wall"] / r["wall"]
            rows.append(
                [
                    f"launch {NAMES[backend]}: `{client}` ≥ 20x SDK loop",
                    f"{r['wall']:.2f} s ({n / r['wall']:.0f} runs/s, {r['requests']} req)",
                    f"{sdk['wall']:.1f} s ({n / sdk['wall']:.1f} runs/s, {sdk['requests']} req)",
                    f"{speedup:.1f}x",
                    verdict(speedup >= 20),
                ]
            )
            shown = f"{r['wall']:.2f} s"
            if "fixed" in r:  # runhub batch: the process's fixed part, then the launches
                phase = r["wall"] - r["fixed"]
                shown += (
                    f" ({r['fixed']:.2f} s start-up and checks, then {phase:.2f} s"
                    f" = {phase / bound:.2f}x launching)"
                )
            rows.append(
                [
                    f"launch {NAMES[backend]}: `{client}` ≤ 1.3x N·L/{c}",
                    shown,
                    f"bound {bound:.2f} s",
                    f"{r['wall'] / bound:.2f}x",
                    verdict(r["wall"] <= 1.3 * bound),
                ]
            )
    return rows


def watch_rows(d: dict[str, Any]) -> list[list[str]]:
    rows = []
    limits = {"ica": 2, "codeocean": 1}
    for backend in ("ica", "codeocean"):
        r, peer = d[backend]["runhub watch"], d[backend]["per-run polling (SDK)"]
        per = r["requests"] / max(1, r["cycles"])
        peer_per = peer["requests"] / max(1, peer["cycles"])
        rows.append(
            [
                f"watch {d['n']} {NAMES[backend]} runs: ≤ {limits[backend]} req/poll cycle",
                f"{per:.0f} req/cycle, {r['requests']} in all",
                f"{peer_per:.0f} req/cycle, {peer['requests']} in all",
                f"{peer['requests'] / max(1, r['requests']):.0f}x fewer",
                verdict(per <= limits[backend]),
            ]
        )
    return rows


def ratelimit_rows(d: dict[str, Any]) -> list[list[str]]:
    rows = []
    peer_name = "official SDK, threads + urllib3 Retry"
    for backend in ("ica", "codeocean"):
        r = d[backend]["runhub launch_many"]
        peer = d[backend].get(peer_name)
        share, limited = r["share_of_rate"], r["share_429"]
        peer_text = (
            f"{peer['share_of_rate']:.0%} of R, {peer['share_429']:.0%} 429s" if peer else "-"
        )
        ratio = f"{share / peer['share_of_rate']:.1f}x throughput" if peer else ""
        rows.append(
            [
                f"{NAMES[backend]} under {d['rate']:g} req/s: ≥ 90% of R, ≤ 5% 429s",
                f"{share:.1%} of R, {limited:.1%} 429s",
                peer_text,
                ratio,
                verdict(share >= 0.9 and limited <= 0.05),
            ]
        )
    return rows


def startup_rows(d: dict[str, Any]) -> list[list[str]]:
    m = d["median_seconds"]
    base = m["python -c pass"]
    version, dry = m["runhub --version"], m["runhub launch --dry-run (local)"]
    floor = m.get(FLOOR)
    peer = f"{base * 1000:.0f} ms"
    if floor is not None:  # the part of the dry run that is not runhub's own code
        peer += f"; click + yaml + one pydantic model alone {floor * 1000:.0f} ms"
    return [
        [
            "`runhub --version` ≤ 3x `python -c pass`",
            f"{version * 1000:.0f} ms",
            f"{base * 1000:.0f} ms",
            f"{version / base:.1f}x",
            verdict(version <= 3 * base),
        ],
        [
            "`runhub launch --dry-run` (local) < 300 ms",
            f"{dry * 1000:.0f} ms",
            peer,
            f"{dry / base:.1f}x",
            verdict(dry < 0.3),
        ],
    ]


def translate_rows(d: dict[str, Any]) -> list[list[str]]:
    rows = []
    for backend in ("ica", "codeocean"):
        r = d[backend]
        rows.append(
            [
                f"translate {NAMES[backend]}: ≥ 20,000 specs/s",
                f"{r['translations_per_s']:,.0f} bodies/s",
                f"{r['exchanges_per_s']:,.0f} launch requests/s built",
                f"{r['translations_per_s'] / 20000:.1f}x target",
                verdict(r["translations_per_s"] >= 20000),
            ]
        )
        rows.append(
            [
                f"track {r['runs']:,} {NAMES[backend]} runs: < 100 MB",
                f"{r['rss_peak_mb']:.0f} MB peak RSS",
                f"{r['rss_before_mb']:.0f} MB before any run",
                "",
                verdict(r["rss_peak_mb"] < 100),
            ]
        )
    return rows


def transfer_rows(d: dict[str, Any]) -> list[list[str]]:
    """Issue 16's targets: throughput vs TransferManager, memory, resume, reuse."""
    rows = []
    for name, label in (("small", "20 x 50 MB"), ("big", "1 GiB")):
        got = d[name]
        mine = got["median_seconds"]["runhub"]
        for peer, ratio in got.get("ratios", {"TransferManager": got["ratio"]}).items():
            rows.append(
                [
                    f"upload {label}: ≥ 1.0x {peer}",
                    f"{mine:.2f} s ({got['mb_per_s']['runhub']:.0f} MB/s)",
                    f"{got['median_seconds'][peer]:.2f} s ({got['mb_per_s'][peer]:.0f} MB/s)",
                    f"{ratio:.2f}x",
                    verdict(ratio >= 1.0),
                ]
            )
    peak = d["big"]["peak_rss"]["runhub"] / (1 << 20)
    rows.append(["upload 1 GiB: peak RSS < 200 MB", f"{peak:.0f} MiB", "", "", verdict(peak < 200)])
    resume = d["resume"]
    rows.append(
        [
            "killed at 60%: re-sent ≤ parts in flight",
            f"{resume['resent_held_bytes']} bytes of held parts re-sent",
            f"in flight ≤ {resume['in_flight_bound_bytes'] >> 20} MiB",
            "",
            verdict(resume["resent_held_bytes"] <= resume["in_flight_bound_bytes"]),
        ]
    )
    again = d["content_addressing"]["second"]["bytes_sent"]
    rows.append(["same 20 files again: 0 bytes sent", f"{again} bytes", "", "", verdict(not again)])
    return rows


def main() -> None:
    rows: list[list[str]] = []
    for name, make in (
        ("launch", launch_rows),
        ("watch", watch_rows),
        ("ratelimit", ratelimit_rows),
        ("startup", startup_rows),
        ("translate", translate_rows),
        ("transfer", transfer_rows),
    ):
        data = load(name)
        if data is None:
            rows.append([f"{name}: no results (run bench/{name}.py)", "", "", "", ""])
        else:
            rows += make(data)
    print("| target | runhub | peer | ratio | |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
