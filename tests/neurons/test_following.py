"""Sundt C fibre: with Na + Kdr only, spike trains are followed up to about 110 Hz (Sundt et al. 2015)."""

from __future__ import annotations

import pytest

from drgsim.validation.physiology import sundt2015


@pytest.mark.slow
def test_sundt_following_frequency_is_near_110_hz():
    """20-pulse trains at 1.2x the single-pulse threshold, at Sundt's 35 C: every pulse is conducted at
    100 Hz, and some fail by 130 Hz (drgsim.validation.physiology.sundt2015)."""
    at_100, at_130 = sundt2015()
    assert at_100.value == 20 and at_100.passed
    assert at_130.value < 20 and at_130.passed
