"""Inter-annotator agreement over grades: pure functions over numpy arrays, no Django.

Data comes as a reliability matrix of shape (raters, units), float, with `np.nan` where a rater
did not grade a unit; `reliability_matrix` builds one from (unit, rater, value) triples. Units
are what the bootstrap resamples (pairs, in this project). Grades are the levels 1–5, but every
function except `cohen_kappa_quadratic` accepts any real values.

Statistics that are undefined on the data given (no unit with two grades, a single value in
the whole matrix, …) come back as `nan`, never as an exception, so a caller can report "too
little data" instead of crashing mid-campaign.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Metric = Literal["nominal", "ordinal", "interval"]
Statistic = Callable[[FloatArray], float]
U = TypeVar("U", bound=Hashable)
R = TypeVar("R", bound=Hashable)

LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)


def reliability_matrix(triples: Iterable[tuple[U, R, float]]) -> tuple[FloatArray, list[U], list[R]]:
    """(unit, rater, value) triples → (matrix of shape (raters, units), unit ids, rater ids).

    Ids keep the order in which they first appear; a repeated (unit, rater) keeps the last value.
    """
    units: dict[U, int] = {}
    raters: dict[R, int] = {}
    cells: list[tuple[int, int, float]] = []
    for unit, rater, value in triples:
        cells.append((raters.setdefault(rater, len(raters)), units.setdefault(unit, len(units)), float(value)))
    matrix = np.full((len(raters), len(units)), np.nan)
    for row, column, value in cells:
        matrix[row, column] = value
    return matrix, list(units), list(raters)


def _as_matrix(matrix: npt.ArrayLike) -> FloatArray:
    array = np.asarray(matrix, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"expected a (raters, units) matrix, got shape {array.shape}")
    return array


def _value_counts(matrix: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(counts of shape (pairable units, values), sorted values): how often each value was given
    to each unit, for units with at least two values."""
    present = ~np.isnan(matrix)
    domain = np.unique(matrix[present])
    _, unit_index = np.nonzero(present)  # row-major, the same order as matrix[present]
    value_index = np.searchsorted(domain, matrix[present])
    n_units = matrix.shape[1]
    flat = np.bincount(unit_index * len(domain) + value_index, minlength=n_units * len(domain))
    counts = flat.reshape(n_units, len(domain)).astype(np.float64)
    return counts[counts.sum(axis=1) >= 2], domain


def _coincidences(counts: FloatArray) -> FloatArray:
    """Krippendorff's coincidence matrix (values × values) from per-unit value counts."""
    per_unit = counts / (counts.sum(axis=1, keepdims=True) - 1.0)
    coincidences: FloatArray = per_unit.T @ counts - np.diag(per_unit.sum(axis=0))
    return coincidences


def _distances(domain: FloatArray, marginals: FloatArray, level: Metric) -> FloatArray:
    """Squared distance δ²(c, k) between every two values of the sorted domain."""
    if level == "nominal":
        return 1.0 - np.eye(len(domain))
    if level == "interval":
        return np.subtract.outer(domain, domain) ** 2
    if level == "ordinal":
        # Σ_{g=c..k} n_g − (n_c + n_k)/2 is the difference of the values' mid-ranks in the pooled data.
        mid_ranks = np.cumsum(marginals) - marginals / 2.0
        return np.subtract.outer(mid_ranks, mid_ranks) ** 2
    raise ValueError(f"unknown level of measurement {level!r}")


def _alpha_from_coincidences(coincidences: FloatArray, domain: FloatArray, level: Metric) -> float:
    marginals = coincidences.sum(axis=1)
    total = float(marginals.sum())
    distances = _distances(domain, marginals, level)
    expected = float(marginals @ distances @ marginals)
    if total <= 1 or expected == 0:
        return float("nan")
    return 1.0 - (total - 1.0) * float(np.sum(coincidences * distances)) / expected


def krippendorff_alpha(matrix: npt.ArrayLike, level: Metric = "ordinal") -> float:
    """Krippendorff's α of a (raters, units) matrix with np.nan for missing values.

    Built from the coincidence matrix; units with fewer than two values are dropped. The ordinal
    metric measures distance by the cumulative frequencies of the values between two grades, so
    it uses only their order. nan when fewer than two distinct values are pairable.
    """
    counts, domain = _value_counts(_as_matrix(matrix))
    if counts.shape[0] == 0:
        return float("nan")
    return _alpha_from_coincidences(_coincidences(counts), domain, level)


def cohen_kappa_quadratic(a: npt.ArrayLike, b: npt.ArrayLike, categories: Sequence[float] = LEVELS) -> float:
    """Quadratic-weighted Cohen's κ of two raters over the units both graded.

    `a` and `b` have shape (units,), np.nan where that rater did not grade; weights are
    (i − j)² over the positions of `categories` (the levels 1–5 by default). nan when fewer
    than one common unit or when chance disagreement is zero (both raters constant and equal).
    """
    first, second = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    both = ~np.isnan(first) & ~np.isnan(second)
    domain = np.asarray(categories, dtype=np.float64)
    if not (np.isin(first[both], domain).all() and np.isin(second[both], domain).all()):
        raise ValueError("a grade is not one of the categories")
    if not both.any():
        return float("nan")
    i, j = np.searchsorted(domain, first[both]), np.searchsorted(domain, second[both])
    k = len(domain)
    observed = np.bincount(i * k + j, minlength=k * k).reshape(k, k) / i.size
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    weights = np.subtract.outer(np.arange(k), np.arange(k)) ** 2.0
    chance = float(np.sum(weights * expected))
    if chance == 0:
        return float("nan")
    return 1.0 - float(np.sum(weights * observed)) / chance


def pairwise_kappas(matrix: npt.ArrayLike, min_overlap: int = 20) -> list[tuple[int, int, float, int]]:
    """Quadratic κ for every two raters (rows i < j) with at least `min_overlap` common units.

    Returns (i, j, kappa, common units) with 0-based row indices.
    """
    data = _as_matrix(matrix)
    present = ~np.isnan(data)
    overlap = present.astype(np.int64) @ present.T.astype(np.int64)
    rows: list[tuple[int, int, float, int]] = []
    for i, j in itertools.combinations(range(data.shape[0]), 2):
        if overlap[i, j] >= min_overlap:
            rows.append((i, j, cohen_kappa_quadratic(data[i], data[j]), int(overlap[i, j])))
    return rows


def _pair_agreement(matrix: FloatArray, tolerance: float) -> float:
    """Share of rater pairs on the same unit whose values differ by at most `tolerance`,
    pooled over all units (a unit graded by m raters contributes m(m−1)/2 pairs)."""
    counts, domain = _value_counts(matrix)
    close = (np.abs(np.subtract.outer(domain, domain)) <= tolerance).astype(np.float64)
    per_unit = counts.sum(axis=1)
    # Ordered pairs of distinct raters: Σ_c,k n_c·n_k·close(c, k) less each rater paired with itself.
    agree = float(np.sum((counts @ close) * counts) - per_unit.sum())
    pairs = float(np.sum(per_unit * (per_unit - 1.0)))
    return agree / pairs if pairs else float("nan")


def exact_agreement(matrix: npt.ArrayLike) -> float:
    """Share of rater pairs on the same unit that gave the same value; (raters, units) input."""
    return _pair_agreement(_as_matrix(matrix), 0.0)


def within_one_agreement(matrix: npt.ArrayLike) -> float:
    """Share of rater pairs on the same unit whose values differ by at most 1; (raters, units) input."""
    return _pair_agreement(_as_matrix(matrix), 1.0)


def bootstrap_ci(
    statistic: Statistic,
    matrix: npt.ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) of `statistic` over a (raters, units) matrix.

    Each resample draws as many units (columns) as the matrix has, with replacement; raters stay.
    Resamples on which the statistic is undefined (nan) are left out; (nan, nan) when all are.
    The same seed gives the same interval.
    """
    data = _as_matrix(matrix)
    n_units = data.shape[1]
    if n_units == 0 or n_boot < 1:
        return float("nan"), float("nan")
    draws = np.random.default_rng(seed).integers(0, n_units, size=(n_boot, n_units))
    values = np.fromiter((statistic(data[:, columns]) for columns in draws), dtype=np.float64, count=n_boot)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def lower_medians(matrix: npt.ArrayLike) -> FloatArray:
    """Per unit (column) of a (raters, units) matrix: the lower middle value, nan where no value."""
    data = np.sort(_as_matrix(matrix), axis=0)  # nan sorts last
    if data.shape[0] == 0:
        return np.full(data.shape[1], np.nan)
    present = (~np.isnan(data)).sum(axis=0)
    middle = np.maximum(present - 1, 0) // 2
    medians = data[middle, np.arange(data.shape[1])]
    return np.where(present > 0, medians, np.nan)


def vs_rest_matrix(matrix: npt.ArrayLike, rater: int) -> FloatArray:
    """A (2, units) matrix: row 0 is `rater`'s values, row 1 the lower median of the other raters,
    over the units that `rater` and at least one other rater graded."""
    data = _as_matrix(matrix)
    mine = data[rater]
    rest = lower_medians(np.delete(data, rater, axis=0))
    keep = ~np.isnan(mine) & ~np.isnan(rest)
    return np.vstack([mine[keep], rest[keep]])


def annotator_vs_rest(matrix: npt.ArrayLike, rater: int, level: Metric = "ordinal") -> float:
    """Per-annotator agreement: α between row `rater` and the consensus of the other rows.

    The consensus of the others is their lower median per unit (the same rule as the consensus
    grade), so the number answers "how well does this person agree with the crowd".
    """
    return krippendorff_alpha(vs_rest_matrix(matrix, rater), level)


def consensus_level(grades: Sequence[int]) -> int:
    """The median grade; with an even count, the lower of the two middle grades.

    The lower middle is an actual grade somebody gave (never 3.5) and the conservative one: a
    pair is not called more relevant than half of its graders thought. Odd N (3 by default) has
    no ties; even counts arise for N even and for gold pairs, which everybody grades.
    """
    if not grades:
        raise ValueError("no grades")
    ordered = sorted(grades)
    return ordered[(len(ordered) - 1) // 2]


def grade_spread(grades: Sequence[int]) -> int:
    """Highest minus lowest grade (0 when all agree)."""
    if not grades:
        raise ValueError("no grades")
    return max(grades) - min(grades)
