"""The report of a run: a plain-text table, a Markdown table and a chart of the ratios."""

from __future__ import annotations

from typing import Any


def _verdict(target: dict[str, Any] | None) -> tuple[str, str]:
    """The target's text with its measure, and whether it holds (yes, **no**, n/a or empty)."""
    if target is None:
        return "", ""
    holds = {True: "yes", False: "**no**", None: "n/a"}[target["met"]]
    return f"{target['text']}: {target['measured']:.2f}", holds


def _unsettled(report: dict[str, Any]) -> str:
    """What the header says when the run could not checkpoint between its steps (Bench.settle)."""
    return "" if report["checkpoints_between_steps"] else "  (no CHECKPOINT between steps: the role may not)"


def format_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    header = (
        f"{'workload':<6} {'store ev/s':>11} {'floor ev/s':>11} {'hand ev/s':>11} {'floor':>6} {'hand':>6}  "
        f"{'store p50/p99 ms':>17} {'hand p50/p99 ms':>17}  target"
    )
    lines = [
        f"durability: {report['durability']}  "
        + "  ".join(f"{k}={v}" for k, v in report["settings"].items())
        + f"  rounds={report['rounds']}"
        + _unsettled(report),
        "ratios: store/floor (same indexes as the store) and store/hand (hand-made table, 3 indexes)",
        header,
        "-" * len(header),
    ]
    for row in report["results"]:
        store, floor, hand, target = row["store"], row["floor"], row["hand"], row["target"]
        verdict = ""
        if target is not None:
            met = {True: "ok", False: "MISSED", None: "n/a"}[target["met"]]
            verdict = f"{target['measured']:.2f} ({target['text']}): {met}"
        lines.append(
            f"{row['key']:<6} {store['events_per_s']:>11,.0f} {floor['events_per_s']:>11,.0f} "
            f"{hand['events_per_s']:>11,.0f} {row['ratio_to_floor']:>6.2f} {row['ratio_to_hand']:>6.2f}  "
            f"{store['p50_ms']:>8.2f}/{store['p99_ms']:<8.2f} "
            f"{hand['p50_ms']:>8.2f}/{hand['p99_ms']:<8.2f}  "
            f"{verdict}"
        )
        lines.append(f"{'':<6} {row['title']}" + (f"; {row['note']}" if row["note"] else ""))
    return "\n".join(lines)


def format_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table (the form docs/performance.md shows)."""
    settings = report["settings"]
    lines = [
        f"fsync={settings['fsync']}, synchronous_commit={settings['synchronous_commit']}, "
        f"full_page_writes={settings['full_page_writes']}, {report['rounds']} rounds, "
        f"PostgreSQL {str(settings['server_version']).split()[0]}" + _unsettled(report),
        "",
        "| # | workload | store ev/s | floor ev/s | hand-made ev/s | ratio to floor | ratio to hand-made "
        "| store p50 / p99 ms | hand-made p50 / p99 ms | target | holds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in report["results"]:
        store, floor, hand = row["store"], row["floor"], row["hand"]
        target_text, holds = _verdict(row["target"])
        title = row["title"] + (f" ({row['note']})" if row["note"] else "")
        lines.append(
            f"| {row['key']} | {title} | {store['events_per_s']:,.0f} | {floor['events_per_s']:,.0f} | "
            f"{hand['events_per_s']:,.0f} | {row['ratio_to_floor']:.2f} | {row['ratio_to_hand']:.2f} | "
            f"{store['p50_ms']:.2f} / {store['p99_ms']:.2f} | {hand['p50_ms']:.2f} / {hand['p99_ms']:.2f} | "
            f"{target_text} | {holds} |"
        )
    return "\n".join(lines)


def plot(reports: list[dict[str, Any]], path: str) -> None:
    """Draw both ratios of every workload as a bar chart (PNG); needs the ``bench`` extra (matplotlib)."""
    import matplotlib  # optional: the 'bench' extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(reports), 1, figsize=(12, 4 * len(reports)), squeeze=False)
    width = 0.4
    for axis, report in zip(axes[:, 0], reports, strict=True):
        rows = report["results"]
        places = range(len(rows))
        axis.bar(
            [p - width / 2 for p in places], [r["ratio_to_floor"] for r in rows], width, label="same indexes"
        )
        axis.bar(
            [p + width / 2 for p in places],
            [r["ratio_to_hand"] for r in rows],
            width,
            label="hand-made table",
            color=[
                {True: "tab:green", False: "tab:red", None: "tab:gray"}[
                    r["target"]["met"] if r["target"] else None
                ]
                for r in rows
            ],
        )
        axis.set_xticks(list(places), [r["key"] for r in rows])
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_ylabel("store rate / floor rate")
        axis.set_title(
            f"pgeventstore vs plain SQL ({report['durability']}); hand-made bars green: target met"
        )
        axis.legend()
    fig.tight_layout()
    fig.savefig(path)
