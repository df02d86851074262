"""Plotly figure dicts (plain JSON) for the quality dashboard, built from a QualitySnapshot's `data`.

No plotly Python objects: the dashboard hands these dicts to plotly.js through `json_script`, so the
request path needs nothing heavier than the standard library. Any value in the snapshot may be
None when the data is thin; every chart then still renders, saying so.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

Figure = dict[str, Any]

GRADE_COLOURS = {"1": "#c0392b", "2": "#e67e22", "3": "#b7950b", "4": "#52a36b", "5": "#1e8449", "skip": "#9a9aa2"}
ALPHA_METRICS = (
    ("alpha_ordinal", "ordinal", "#1d1d1f"),
    ("alpha_interval", "interval", "#375a7f"),
    ("alpha_nominal", "nominal", "#9a9aa2"),
)
DAY_MS = 86_400_000
FLAGGED = "#c8102e"
STEADY = "#52a36b"
FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12, "color": "#1d1d1f"}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}},
        "height": 300,
        "margin": {"l": 50, "r": 16, "t": 40, "b": 44},
        "font": FONT,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#fff",
        "showlegend": False,
    }
    layout.update(extra)
    return layout


def _empty(title: str, message: str = "Not enough judgments yet") -> Figure:
    """A figure with no traces that says why, so the page keeps its shape."""
    note = {"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}
    hidden = {"visible": False}
    return {"data": [], "layout": _layout(title, annotations=[note], xaxis=hidden, yaxis=hidden)}


def judgments_over_time(data: dict[str, Any]) -> Figure:
    """Judgments per calendar day (bars)."""
    title = "Judgments per day"
    days = data.get("judgments_per_day") or []
    if not days:
        return _empty(title)
    trace = {
        "type": "bar",
        "x": [row["day"] for row in days],
        "y": [row["count"] for row in days],
        "marker": {"color": "#375a7f"},
        "hovertemplate": "%{x}: %{y} judgments<extra></extra>",
    }
    # One tick per day and day-wide bars, so a single day is not shown as a millisecond scale.
    xaxis = {"type": "date", "dtick": DAY_MS, "tickformat": "%b %-d", "range": _day_range(days)}
    trace["width"] = DAY_MS * 0.8
    return {"data": [trace], "layout": _layout(title, xaxis=xaxis, yaxis={"title": {"text": "judgments"}})}


def _day_range(days: list[dict[str, Any]]) -> list[str]:
    """Half a day of room either side: a bar drawn at a day's midnight spans ±0.4 day."""
    before_first = (date.fromisoformat(days[0]["day"]) - timedelta(days=1)).isoformat()
    return [f"{before_first} 12:00", f"{days[-1]['day']} 12:00"]


def grade_distribution(data: dict[str, Any]) -> Figure:
    """How often each level (and skip) was given."""
    title = "Grade distribution"
    counts = data.get("grade_distribution") or {}
    keys = [key for key in GRADE_COLOURS if key in counts]
    if not any(counts.get(key) for key in keys):
        return _empty(title)
    trace = {
        "type": "bar",
        "x": [f"L{key}" if key != "skip" else "skip" for key in keys],
        "y": [counts[key] or 0 for key in keys],
        "marker": {"color": [GRADE_COLOURS[key] for key in keys]},
        "hovertemplate": "%{x}: %{y}<extra></extra>",
    }
    return {"data": [trace], "layout": _layout(title, yaxis={"title": {"text": "judgments"}})}


def _slices(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """("all", overall) then each language, in a stable order."""
    per_language = data.get("per_language") or {}
    return [("all", data.get("overall") or {})] + sorted(per_language.items())


def _point_with_interval(cell: dict[str, Any] | None) -> tuple[float | None, float | None, float | None]:
    """(value, distance up to the high bound, distance down to the low bound); None where unknown."""
    cell = cell or {}
    value, low, high = cell.get("value"), cell.get("low"), cell.get("high")
    if value is None:
        return None, None, None
    up = high - value if high is not None else None
    down = value - low if low is not None else None
    return value, up, down


def alpha_by_language(data: dict[str, Any]) -> Figure:
    """Krippendorff's α (ordinal, interval, nominal) per language with 95% intervals as error bars."""
    title = "Krippendorff's α per language (95% interval)"
    slices = _slices(data)
    traces = []
    for offset, (key, label, colour) in enumerate(ALPHA_METRICS):
        points = [_point_with_interval(metrics.get(key)) for _, metrics in slices]
        if all(value is None for value, _, _ in points):
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": label,
                "x": [name for name, _ in slices],
                "y": [value for value, _, _ in points],
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [up for _, up, _ in points],
                    "arrayminus": [down for _, _, down in points],
                    "color": colour,
                },
                "marker": {"color": colour, "size": 10 if offset == 0 else 7},
                "offsetgroup": label,
                "hovertemplate": f"{label} α %{{x}}: %{{y:.3f}}<extra></extra>",
            }
        )
    if not traces:
        return _empty(title)
    layout = _layout(
        title,
        showlegend=True,
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
        scattermode="group",
        xaxis={"type": "category"},
        yaxis={"title": {"text": "α"}, "zeroline": True},
    )
    return {"data": traces, "layout": layout}


def gold_accuracy(data: dict[str, Any], threshold: float | None = None) -> Figure:
    """Exact and within-1 accuracy on gold pairs per annotator; flagged annotators in red."""
    title = "Gold accuracy per annotator"
    rows = [row for row in data.get("per_annotator") or [] if row.get("gold_judged")]
    if not rows:
        return _empty(title, "No gold pairs judged yet")
    names = [row["annotator"] for row in rows]
    exact = {
        "type": "bar",
        "name": "exact",
        "x": names,
        "y": [row.get("gold_exact") for row in rows],
        "marker": {"color": [FLAGGED if row.get("flagged") else STEADY for row in rows]},
        "customdata": [row["gold_judged"] for row in rows],
        "hovertemplate": "%{x}: %{y:.0%} exact on %{customdata} gold<extra></extra>",
    }
    within = {
        "type": "bar",
        "name": "within 1",
        "x": names,
        "y": [row.get("gold_within_one") for row in rows],
        "marker": {"color": "#cfd8e3"},
        "hovertemplate": "%{x}: %{y:.0%} within one level<extra></extra>",
    }
    shapes = []
    if threshold is not None:
        line = {"color": FLAGGED, "dash": "dash", "width": 1}
        shapes.append(
            {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold, "line": line}
        )
    layout = _layout(
        title,
        barmode="group",
        showlegend=True,
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
        yaxis={"range": [0, 1], "tickformat": ".0%"},
        shapes=shapes,
    )
    return {"data": [exact, within], "layout": layout}


def kappa_matrix(data: dict[str, Any]) -> Figure:
    """Quadratic-weighted Cohen's κ for every pair of annotators as a symmetric heatmap."""
    title = "Cohen's κ (quadratic) between annotators"
    kappas = [row for row in data.get("kappas") or [] if row.get("kappa") is not None]
    if not kappas:
        return _empty(title, "No two annotators overlap enough yet")
    names = sorted({row["a"] for row in kappas} | {row["b"] for row in kappas})
    index = {name: i for i, name in enumerate(names)}
    z: list[list[float | None]] = [[None] * len(names) for _ in names]
    n: list[list[int | None]] = [[None] * len(names) for _ in names]
    for row in kappas:
        a, b = index[row["a"]], index[row["b"]]
        z[a][b] = z[b][a] = row["kappa"]
        n[a][b] = n[b][a] = row.get("n")
    trace = {
        "type": "heatmap",
        "x": names,
        "y": names,
        "z": z,
        "customdata": n,
        "zmin": 0,
        "zmax": 1,
        "colorscale": [[0, "#f7f4ea"], [0.5, "#9cc5a1"], [1, "#1e8449"]],
        "texttemplate": "%{z:.2f}",
        "hovertemplate": "%{y} × %{x}: κ = %{z:.3f} over %{customdata} pairs<extra></extra>",
        "hoverongaps": False,
    }
    axis = {"type": "category", "automargin": True}
    layout = _layout(title, xaxis=axis, yaxis={**axis, "autorange": "reversed"})
    return {"data": [trace], "layout": layout}


def dashboard_figures(data: dict[str, Any], gold_threshold: float | None = None) -> dict[str, Figure]:
    """Every chart of the dashboard by its element id."""
    return {
        "chart-judgments": judgments_over_time(data),
        "chart-grades": grade_distribution(data),
        "chart-alpha": alpha_by_language(data),
        "chart-gold": gold_accuracy(data, gold_threshold),
        "chart-kappa": kappa_matrix(data),
    }
