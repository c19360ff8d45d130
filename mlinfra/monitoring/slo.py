"""Multi-window, multi-burn-rate alerts on a service's availability and latency objectives.

The windows and burn rates are the Google SRE workbook's ("Alerting on SLOs", table 5-8) for a
30-day objective: a page when 2% of the month's error budget burns in an hour (14.4x) or 5% in
six hours (6x), a ticket when 10% burns in three days (1x) or in a day at 3x. Each long window
has a short one (1/12 of it) that must also be burning, so an alert stops soon after the burn
does. No `for:` clause: the short window already filters blips, as in the workbook.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlinfra.serving import metric_names as m


@dataclass(frozen=True)
class BurnWindow:
    long: str
    short: str
    factor: float


PAGE = (BurnWindow("1h", "5m", 14.4), BurnWindow("6h", "30m", 6))
TICKET = (BurnWindow("1d", "2h", 3), BurnWindow("3d", "6h", 1))


def le_label(bound: float) -> str:
    """The `le` value the runtime's histogram exposes for a bound (prometheus_client: `repr`)."""
    return repr(float(bound))


def error_ratio(service: str, window: str) -> str:
    sel = f'{m.LABEL_MODEL}="{service}"'
    return (
        f'sum(rate({m.REQUESTS_TOTAL}{{{sel},{m.LABEL_STATUS}=~"5.."}}[{window}]))'
        f" / sum(rate({m.REQUESTS_TOTAL}{{{sel}}}[{window}]))"
    )


def slow_ratio(service: str, window: str, threshold: float) -> str:
    sel = f'{m.LABEL_MODEL}="{service}"'
    hist = m.REQUEST_DURATION_SECONDS
    return (
        f'1 - sum(rate({hist}_bucket{{{sel},le="{le_label(threshold)}"}}[{window}]))'
        f" / sum(rate({hist}_count{{{sel}}}[{window}]))"
    )


def burn_expr(
    service: str, windows: tuple[BurnWindow, ...], budget: float, latency_threshold: float | None = None
) -> str:
    """`(long > f*budget and short > f*budget) or ...` over the given window pairs, on the 5xx
    ratio, or on the ratio of requests slower than `latency_threshold` when it is given."""

    def ratio(window: str) -> str:
        if latency_threshold is None:
            return error_ratio(service, window)
        return slow_ratio(service, window, latency_threshold)

    return " or ".join(
        f"(({ratio(w.long)}) > {w.factor * budget:.6g} and ({ratio(w.short)}) > {w.factor * budget:.6g})"
        for w in windows
    )


def error_budget(percent: float) -> float:
    return round(1 - percent / 100, 10)
