"""Terminal output for long commands: a progress bar (rich's) and the model quality table."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn


class ProgressBar:
    """`━━━━━━━━━━━━━━━━━━━━ 50% 5000/10000 0:00:02 3400/s` on standard error: redrawn in place on a
    terminal, drawn once when closed anywhere else (logs, CI). Also a context manager."""

    def __init__(self, total: int, file: TextIO = sys.stderr, description: str = "") -> None:
        console = Console(file=file)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[rate]}"),
            console=console, transient=False,
        )
        self.task = self.progress.add_task(description, total=max(total, 1), rate="")
        self.total = max(total, 1)
        # Not a terminal (a log, CI): no redrawing, but a line at every tenth.
        self.tenths = None if console.is_terminal else 0
        self.progress.start()

    def update(self, done: int) -> None:
        task = self.progress.tasks[0]
        speed = task.speed
        self.progress.update(self.task, completed=done, rate=f"{speed:.0f}/s" if speed else "")
        if self.tenths is not None and done * 10 // self.total > self.tenths and done < self.total:
            self.tenths = done * 10 // self.total
            self.progress.console.print(self.progress.make_tasks_table(self.progress.tasks))

    def close(self) -> None:
        self.progress.stop()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _figure(value) -> str:
    return "- (one class)" if value is None else f"{value:.4f}"


def render_report(report: dict[str, dict]) -> str:
    """One line per model: its prequential metrics, samples, pending labels and drift flag."""
    lines = [f"{'model':<18} {'metric':<34} {'vs heuristic (model / heuristic)':<34} {'samples':>8} {'pending':>8}  drift"]
    for name, r in report.items():
        metric = next(
            (f"{k} {_figure(r[k])}" for k in ("roc_auc", "mae", "redemption_rate") if k in r),
            next((f"{k} {v:.4f}" for k, v in r.items() if k.startswith("hit_rate")), "-"),
        )
        if "log_loss" in r:
            metric += f", log_loss {r['log_loss']:.4f}"
        versus = r.get("vs_baseline") or {}
        pair = [v for k, v in versus.items() if k not in ("samples", "beats_baseline")]
        versus_text = " / ".join(_figure(v) for v in pair) if pair else "-"
        if versus.get("beats_baseline") is not None:
            versus_text += " (beats it)" if versus["beats_baseline"] else " (LOSES)"
        lines.append(
            f"{name:<18} {metric:<34} {versus_text:<34} {r.get('samples', 0):>8} {r.get('pending_labels', 0):>8}  "
            f"{'DRIFT' if r.get('drift') else 'ok'}"
        )
    return "\n".join(lines)


def render_performance(report: dict) -> str:
    """What the offers did: one line per campaign (uplift, 95% intervals), then the policies' values."""
    lines = [f"{'campaign':<18} {'treated':>8} {'held out':>8}  {'purchase rate uplift [95%]':<30} "
             f"{'spend/customer uplift [95%]':<30} significant"]

    def span(figure: dict, digits: int) -> str:
        if figure["difference"] is None:
            return "-"
        return f"{figure['difference']:+.{digits}f} [{figure['low']:+.{digits}f}, {figure['high']:+.{digits}f}]"

    for cid, r in report.get("campaigns", {}).items():
        lines.append(f"{cid:<18} {r['treated']['customers']:>8} {r['held_out']['customers']:>8}  "
                     f"{span(r['purchase_rate'], 4):<30} {span(r['spend_per_customer'], 2):<30} "
                     f"{'yes' if r['significant'] else 'no'}")
    values = report.get("policy_value") or {}
    if values.get("decisions"):
        lines.append(f"policy value per decision, doubly robust [95%], over {values['decisions']} logged decisions:")
        for reward, digits in (("redeemed", 4), ("spend", 2)):
            parts = []
            for policy, figures in values[reward].items():
                f = figures["doubly_robust"]
                parts.append(f"{policy} {f['value']:.{digits}f} [{f['low']:.{digits}f}, {f['high']:.{digits}f}]")
            lines.append(f"  {reward:<9} " + "; ".join(parts))
    return "\n".join(lines)
