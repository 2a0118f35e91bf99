"""Terminal output for long commands: a progress bar and the model quality table."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """`[#####.....]  50%  5000/10000  3400/s`: redrawn in place on a terminal (ten times a
    second at most), one plain line per 10% anywhere else (logs, CI)."""

    def __init__(self, total: int, file: TextIO = sys.stderr, width: int = 30) -> None:
        self.total = max(total, 1)
        self.file = file
        self.width = width
        self.interactive = hasattr(file, "isatty") and file.isatty()
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.last_tenth = 0
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        if self.interactive:
            now = time.monotonic()
            if now - self.last_draw >= 0.1 or done >= self.total:
                self.last_draw = now
                self.file.write("\r" + self._line(now))
                self.file.flush()
        elif (tenth := done * 10 // self.total) > self.last_tenth:
            self.last_tenth = tenth
            self.file.write(self._line(time.monotonic()) + "\n")
            self.file.flush()

    def _line(self, now: float) -> str:
        share = min(1.0, self.done / self.total)
        filled = int(share * self.width)
        rate = self.done / max(now - self.started, 1e-6)
        return f"[{'#' * filled}{'.' * (self.width - filled)}] {share:4.0%}  {self.done}/{self.total}  {rate:.0f}/s"

    def close(self) -> None:
        if self.interactive:
            self.file.write("\r" + self._line(time.monotonic()) + "\n")
            self.file.flush()


def render_report(report: dict[str, dict]) -> str:
    """One line per model: its prequential metrics, samples, pending labels and drift flag."""
    lines = [f"{'model':<18} {'metric':<34} {'vs heuristic (model / heuristic)':<34} {'samples':>8} {'pending':>8}  drift"]
    for name, r in report.items():
        metric = next(
            (f"{k} {r[k]:.4f}" for k in ("roc_auc", "mae", "redemption_rate") if k in r),
            next((f"{k} {v:.4f}" for k, v in r.items() if k.startswith("hit_rate")), "-"),
        )
        if "log_loss" in r:
            metric += f", log_loss {r['log_loss']:.4f}"
        versus = r.get("vs_baseline") or {}
        pair = [v for k, v in versus.items() if k != "samples"]
        versus_text = " / ".join(f"{v:.4f}" for v in pair) if pair else "-"
        lines.append(
            f"{name:<18} {metric:<34} {versus_text:<34} {r.get('samples', 0):>8} {r.get('pending_labels', 0):>8}  "
            f"{'DRIFT' if r.get('drift') else 'ok'}"
        )
    return "\n".join(lines)
