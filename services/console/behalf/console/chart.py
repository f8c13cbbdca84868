"""Decisions over time by outcome, as stacked-bar geometry for an inline SVG (no scripts)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

OUTCOMES = ("ALLOW", "REQUIRE_APPROVAL", "DENY")
PLOT_TOP = 10
PLOT_LEFT = 36
AXIS_HEIGHT = 22


@dataclass(frozen=True)
class Bar:
    """One outcome's segment of one time bucket."""

    x: float
    y: float
    width: float
    height: float
    outcome: str
    count: int
    title: str


@dataclass(frozen=True)
class Chart:
    """Everything the SVG template draws."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    max_count: int
    totals: dict[str, int]
    x_labels: tuple[tuple[float, str], ...]
    plot_bottom: float

    @property
    def empty(self) -> bool:
        return not any(self.totals.values())


def bucket_counts(
    points: Iterable[tuple[datetime, str]], start: datetime, end: datetime, buckets: int
) -> list[dict[str, int]]:
    """Counts per outcome in `buckets` equal slices of [start, end); other points are ignored."""
    span = (end - start).total_seconds()
    counts: list[dict[str, int]] = [dict.fromkeys(OUTCOMES, 0) for _ in range(buckets)]
    if span <= 0 or buckets <= 0:
        return counts
    for when, outcome in points:
        offset = (when - start).total_seconds()
        if outcome not in OUTCOMES or not 0 <= offset < span:
            continue
        counts[min(int(offset / span * buckets), buckets - 1)][outcome] += 1
    return counts


def counted_buckets(
    counts: Iterable[tuple[datetime, str, int]], start: datetime, end: datetime, buckets: int
) -> list[dict[str, int]]:
    """Per-bucket counts from (bucket start, outcome, count) rows, as the registry's
    CountDecisions returns them for the same window and bucket count."""
    span = (end - start).total_seconds()
    table: list[dict[str, int]] = [dict.fromkeys(OUTCOMES, 0) for _ in range(buckets)]
    if span <= 0 or buckets <= 0:
        return table
    for bucket_start, outcome, count in counts:
        index = round((bucket_start - start).total_seconds() / span * buckets)
        if outcome in OUTCOMES and 0 <= index < buckets:
            table[index][outcome] += count
    return table


def build_chart(
    counts: list[dict[str, int]],
    start: datetime,
    end: datetime,
    *,
    width: int = 640,
    height: int = 170,
) -> Chart:
    """Stacked bars (allow at the bottom, deny on top) of per-bucket counts over [start, end),
    scaled to the busiest bucket."""
    buckets = len(counts)
    busiest = max((sum(c.values()) for c in counts), default=0)
    scale_max = max(1, busiest)
    plot_bottom = height - AXIS_HEIGHT
    plot_height = plot_bottom - PLOT_TOP
    slot = (width - PLOT_LEFT) / max(1, buckets)
    bar_width = max(1.0, slot * 0.8)
    bucket_seconds = (end - start).total_seconds() / max(1, buckets)
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    for index, bucket in enumerate(counts):
        x = PLOT_LEFT + index * slot + (slot - bar_width) / 2
        top: float = plot_bottom
        bucket_start = start.timestamp() + index * bucket_seconds
        label = datetime.fromtimestamp(bucket_start, tz=start.tzinfo).strftime("%H:%M")
        for outcome in OUTCOMES:
            count = bucket[outcome]
            if not count:
                continue
            h = plot_height * count / scale_max
            top -= h
            bars.append(
                Bar(
                    round(x, 2),
                    round(top, 2),
                    round(bar_width, 2),
                    round(h, 2),
                    outcome,
                    count,
                    f"{label}: {count} {outcome.lower().replace('_', ' ')}",
                )
            )
        if index % max(1, math.ceil(buckets / 6)) == 0:
            labels.append((round(x + bar_width / 2, 2), label))
    totals = {o: sum(c[o] for c in counts) for o in OUTCOMES}
    return Chart(width, height, tuple(bars), busiest, totals, tuple(labels), plot_bottom)
