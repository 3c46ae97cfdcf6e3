"""The predicted interval widens where the sample's per-row work is within its repeats' noise."""

from __future__ import annotations

import pytest

from confiture_core.dryrun.predict import Point, fit_points


def test_a_per_row_part_within_the_noise_gives_a_wide_interval() -> None:
    # 58 ms on the emptied tables, 60 ms on the 8,000-row sample, repeats spread ±30%: the 2 ms per-row part is
    # ±35 ms; scaled 125 times (log factor aside) the interval must reach far above the point prediction
    points = [Point(0, 58.0), Point(8000, 60.0)]
    predicted, low, high = fit_points("rewrite", points, 1_000_000, noise=0.3)
    assert predicted == pytest.approx(58.0 + 2.0 * 125, rel=1e-3)
    assert low == pytest.approx(58.0) and high == pytest.approx(58.0 + (2.0 + 0.3 * 118) * 125, rel=1e-3)
    # without noise the interval is the ±20% floor as before
    assert fit_points("rewrite", points, 1_000_000)[2] == pytest.approx(predicted * 1.2, rel=1e-3)
