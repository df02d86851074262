from __future__ import annotations

import time

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from annotation import agreement

nan = np.nan

# Krippendorff's worked example ("Computing Krippendorff's alpha-reliability", 2011): four
# observers, twelve units, values 1–5, missing values; the last unit has a single value.
WORKED_EXAMPLE = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)
LEVELS = ("nominal", "ordinal", "interval")


def random_grades(seed: int, raters: int = 5, units: int = 60, missing: float = 0.35) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Correlated raters: a latent grade per unit plus noise, so α is neither ~0 nor ~1.
    latent = rng.integers(1, 6, size=units)
    grades = np.clip(latent + rng.integers(-1, 2, size=(raters, units)), 1, 5).astype(float)
    grades[rng.random(grades.shape) < missing] = nan
    return grades


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_reproduces_the_published_worked_example(level, published) -> None:
    assert agreement.krippendorff_alpha(WORKED_EXAMPLE, level) == pytest.approx(published, abs=5e-4)


def test_alpha_by_hand_on_two_raters_and_three_units() -> None:
    # Coincidences o(1,1)=2, o(1,2)=o(2,1)=1, o(2,2)=2; n1=n2=3, n=6.
    # α = 1 − (n−1)·Σo·δ / Σn_c·n_k·δ = 1 − 5·2 / 18 = 4/9 (two values: every metric agrees).
    matrix = [[1, 1, 2], [1, 2, 2]]
    for level in LEVELS:
        assert agreement.krippendorff_alpha(matrix, level) == pytest.approx(4 / 9, abs=1e-12)


def test_ordinal_alpha_uses_frequencies_not_distances_between_values() -> None:
    # Relabelling the values monotonically keeps ordinal α but changes interval α.
    matrix = random_grades(3)
    stretched = np.where(np.isnan(matrix), nan, matrix**3)
    assert agreement.krippendorff_alpha(stretched, "ordinal") == pytest.approx(
        agreement.krippendorff_alpha(matrix, "ordinal"), abs=1e-12
    )
    assert agreement.krippendorff_alpha(stretched, "interval") != pytest.approx(
        agreement.krippendorff_alpha(matrix, "interval"), abs=1e-3
    )


def test_alpha_is_one_for_perfect_agreement_and_nan_when_undefined() -> None:
    assert agreement.krippendorff_alpha([[1, 2, 5, nan], [1, 2, 5, 3]]) == pytest.approx(1.0)
    assert np.isnan(agreement.krippendorff_alpha([[3, 3, 3], [3, 3, 3]]))  # one value: no expected disagreement
    assert np.isnan(agreement.krippendorff_alpha([[1, nan], [nan, 2]]))  # no unit has two values
    assert np.isnan(agreement.krippendorff_alpha(np.empty((3, 0))))


def test_units_with_a_single_value_do_not_change_alpha() -> None:
    matrix = random_grades(4)
    padded = np.hstack([matrix, [[5.0], [nan], [nan], [nan], [nan]]])
    assert agreement.krippendorff_alpha(padded) == agreement.krippendorff_alpha(matrix)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("level", LEVELS)
def test_alpha_equals_the_krippendorff_package_with_missing_values(seed, level) -> None:
    matrix = random_grades(seed, raters=2 + seed % 5, units=20 + 17 * seed)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
    assert abs(agreement.krippendorff_alpha(matrix, level) - expected) < 1e-9


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda raters: st.lists(
            st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=raters, max_size=raters),
            min_size=2,
            max_size=30,
        )
    )
)
def test_alpha_agrees_with_the_package_on_any_data(columns) -> None:
    matrix = np.array([[nan if v is None else v for v in column] for column in columns], dtype=float).T
    pairable = matrix[:, (~np.isnan(matrix)).sum(axis=0) >= 2]
    if pairable.size == 0 or len(np.unique(pairable[~np.isnan(pairable)])) < 2:
        assert np.isnan(agreement.krippendorff_alpha(matrix))  # the package raises here
        return
    for level in LEVELS:
        expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
        assert abs(agreement.krippendorff_alpha(matrix, level) - expected) < 1e-9


def test_quadratic_kappa_by_hand() -> None:
    # a = 1,2,3 and b = 2,2,3: observed Σw·O = 1/3; chance Σw·E = 1 → κ = 2/3.
    assert agreement.cohen_kappa_quadratic([1, 2, 3], [2, 2, 3]) == pytest.approx(2 / 3, abs=1e-12)
    # Opposite ends of the scale: Σw·O = 16, Σw·E = 8 → κ = −1.
    assert agreement.cohen_kappa_quadratic([1, 5], [5, 1]) == pytest.approx(-1.0, abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_quadratic_kappa_equals_sklearn_over_common_units(seed) -> None:
    a, b = random_grades(seed, raters=2, units=30 + 20 * seed, missing=0.25)
    both = ~np.isnan(a) & ~np.isnan(b)
    expected = cohen_kappa_score(a[both].astype(int), b[both].astype(int), labels=[1, 2, 3, 4, 5], weights="quadratic")
    assert abs(agreement.cohen_kappa_quadratic(a, b) - expected) < 1e-9


def test_kappa_refuses_grades_outside_the_scale_and_is_nan_without_overlap() -> None:
    with pytest.raises(ValueError, match="categories"):
        agreement.cohen_kappa_quadratic([1, 6], [1, 2])
    assert np.isnan(agreement.cohen_kappa_quadratic([1, nan], [nan, 2]))


def test_pairwise_kappas_only_for_raters_with_enough_overlap() -> None:
    matrix = np.array(
        [
            [1, 2, 3, 4, 5, nan],
            [1, 2, 3, 5, 5, nan],
            [nan, nan, nan, nan, 4, 4],
        ]
    )
    rows = agreement.pairwise_kappas(matrix, min_overlap=3)
    assert [(i, j, n) for i, j, _, n in rows] == [(0, 1, 5)]
    assert rows[0][2] == pytest.approx(agreement.cohen_kappa_quadratic(matrix[0], matrix[1]))
    assert len(agreement.pairwise_kappas(matrix, min_overlap=1)) == 3


def test_exact_and_within_one_agreement_by_hand() -> None:
    # Unit 1: 3,3,4 → pairs (3,3) (3,4) (3,4): 1 exact, 3 within one.
    # Unit 2: 1,5 → 0 exact, 0 within one. Unit 3: one value, no pair.
    matrix = [[3, 1, 2], [3, 5, nan], [4, nan, nan]]
    assert agreement.exact_agreement(matrix) == pytest.approx(1 / 4)
    assert agreement.within_one_agreement(matrix) == pytest.approx(3 / 4)
    assert np.isnan(agreement.exact_agreement([[1, nan]]))


def test_bootstrap_interval_holds_the_estimate_and_repeats_with_the_seed() -> None:
    matrix = random_grades(11, raters=3, units=200)
    estimate = agreement.krippendorff_alpha(matrix)
    low, high = agreement.bootstrap_ci(agreement.krippendorff_alpha, matrix, n_boot=300, seed=7)
    assert low < estimate < high
    assert high - low < 0.5
    assert agreement.bootstrap_ci(agreement.krippendorff_alpha, matrix, n_boot=300, seed=7) == (low, high)
    assert agreement.bootstrap_ci(agreement.krippendorff_alpha, matrix, n_boot=300, seed=8) != (low, high)


def test_bootstrap_interval_narrows_with_more_units() -> None:
    small = random_grades(5, raters=3, units=40, missing=0.0)
    large = np.tile(small, 10)
    low_s, high_s = agreement.bootstrap_ci(agreement.exact_agreement, small, n_boot=300)
    low_l, high_l = agreement.bootstrap_ci(agreement.exact_agreement, large, n_boot=300)
    assert high_l - low_l < (high_s - low_s) / 2


def test_bootstrap_of_an_undefined_statistic_is_nan() -> None:
    low, high = agreement.bootstrap_ci(agreement.krippendorff_alpha, np.full((2, 5), 3.0), n_boot=50)
    assert np.isnan(low) and np.isnan(high)


def test_bootstrap_of_a_thousand_units_takes_at_most_a_couple_of_seconds() -> None:
    matrix = random_grades(2, raters=3, units=1000, missing=0.1)
    started = time.perf_counter()
    agreement.bootstrap_ci(agreement.krippendorff_alpha, matrix, n_boot=1000)
    assert time.perf_counter() - started < 3.0


def test_annotator_vs_rest_compares_with_the_lower_median_of_the_others() -> None:
    matrix = np.array(
        [
            [1, 2, 3, 4, 5, nan],
            [1, 2, 3, 4, 5, 2],
            [2, 2, 4, 4, 5, nan],
            [5, 5, 1, 1, 1, 2],
        ]
    )
    versus = agreement.vs_rest_matrix(matrix, 3)
    # Others per unit: (1,1,2)→1, (2,2,2)→2, (3,3,4)→3, (4,4,4)→4, (5,5,5)→5, (2)→2.
    assert versus.tolist() == [[5, 5, 1, 1, 1, 2], [1, 2, 3, 4, 5, 2]]
    assert agreement.annotator_vs_rest(matrix, 3) < 0 < agreement.annotator_vs_rest(matrix, 0)
    # Others of rater 1: (1,2,5)→2, (2,2,5)→2, (3,4,1)→3, (4,4,1)→4, (5,5,1)→5, (2)→2.
    assert agreement.vs_rest_matrix(matrix, 1).tolist() == [[1, 2, 3, 4, 5, 2], [2, 2, 3, 4, 5, 2]]
    assert agreement.annotator_vs_rest(matrix, 1) == pytest.approx(
        agreement.krippendorff_alpha([[1, 2, 3, 4, 5, 2], [2, 2, 3, 4, 5, 2]])
    )


def test_a_lone_rater_has_nobody_to_agree_with() -> None:
    assert agreement.vs_rest_matrix([[1, 2, 3]], 0).shape == (2, 0)
    assert np.isnan(agreement.annotator_vs_rest([[1, 2, 3]], 0))


def test_reliability_matrix_from_triples_keeps_first_seen_order() -> None:
    matrix, units, raters = agreement.reliability_matrix([("p2", "bob", 3), ("p1", "alice", 4), ("p2", "alice", 5)])
    assert units == ["p2", "p1"] and raters == ["bob", "alice"]
    np.testing.assert_array_equal(matrix, [[3, nan], [5, 4]])


@pytest.mark.parametrize(
    ("grades", "level", "spread"),
    [([4], 4, 0), ([2, 4, 5], 4, 3), ([3, 4], 3, 1), ([5, 1, 4, 2], 2, 4), ([3, 3, 4, 4], 3, 1)],
)
def test_consensus_is_the_median_with_the_lower_middle_on_ties(grades, level, spread) -> None:
    assert agreement.consensus_level(grades) == level
    assert agreement.grade_spread(grades) == spread


def test_lower_medians_match_consensus_level_per_column() -> None:
    matrix = random_grades(9, raters=4, units=50)
    medians = agreement.lower_medians(matrix)
    for column, median in zip(matrix.T, medians, strict=True):
        grades = [int(v) for v in column if not np.isnan(v)]
        assert (np.isnan(median) and not grades) or median == agreement.consensus_level(grades)


@given(st.lists(st.integers(1, 5), min_size=1, max_size=12))
def test_consensus_is_a_grade_given_with_at_least_half_the_grades_on_each_side(grades) -> None:
    level = agreement.consensus_level(grades)
    assert level in grades
    assert sum(g <= level for g in grades) >= len(grades) / 2
    assert sum(g >= level for g in grades) >= len(grades) / 2
