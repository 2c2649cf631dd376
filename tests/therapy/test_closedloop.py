"""A day of postures open loop against closed loop (synthetic growth curves: these test the day, the loop and the
outcomes, not the ECAP physics), the day file's errors, and ``drgsim closedloop``'s bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from drgsim.cli import app
from drgsim.devices import ImplantedLead
from drgsim.devices.battery import LeadLoad, estimate_battery
from drgsim.devices.hardware import get_ipg_model
from drgsim.devices.program import Program
from drgsim.therapy.closedloop import Day, PostureResponse, day_figure, load_day, run_day, timeline

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "day.yaml"
AMPS = np.round(np.arange(0, 25.51, 0.05), 3).tolist()
SCS_IMPLANT = [ImplantedLead(lead=1, lead_model="scs8", impedance_ohm=600)]
runner = CliRunner()


def scs_program(amplitude_ma: float) -> Program:
    return Program(name="tonic", leads={1: {"contacts": "-+000000", "amplitude_ma": amplitude_ma,
                                            "pulse_width_us": 200, "frequency_hz": 50, "enabled": True}})


def linear(g: float, threshold_ma: float = 3.0, slope_uv_per_ma: float = 60.0, perception_ratio: float = 1.07,
           window: float = 1.5) -> PostureResponse:
    """A posture that scales every threshold by ``g`` and the ECAP slope by 1 / ``g`` (as the dorsal CSF does)."""
    return PostureResponse(amplitudes_ma=AMPS, ecap_uv=[slope_uv_per_ma / g * max(0.0, a - threshold_ma * g)
                                                        for a in AMPS],
                           perception_threshold_ma=perception_ratio * threshold_ma * g,
                           discomfort_threshold_ma=window * perception_ratio * threshold_ma * g)


SCS = {"supine": linear(0.75), "sitting": linear(1.0), "standing": linear(1.05), "prone": linear(1.3)}
DRG = {p: linear(g, threshold_ma=0.5, slope_uv_per_ma=200.0) for p, g in
       {"supine": 1.0, "sitting": 1.01, "standing": 1.01, "prone": 1.02}.items()}


def write(tmp_path, data) -> Path:
    path = tmp_path / "day.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_the_example_day_is_a_whole_day_of_the_projects_postures():
    day = load_day(EXAMPLE)
    assert day.minutes == 1440 and {p.value for p in day.postures()} == {"supine", "prone", "sitting", "standing"}


@pytest.mark.parametrize("data, message", [
    ({"segments": [{"posture": "sidelying", "minutes": 10}]},
     "segments.0.posture='sidelying': Input should be 'supine', 'prone', 'sitting' or 'standing'"),
    ({"segments": [{"posture": "supine", "minutes": -1}]}, "segments.0.minutes=-1: Input should be greater than 0"),
    ({"segments": [{"posture": "supine", "minutes": 1000}, {"posture": "prone", "minutes": 500}]},
     "segments add up to 1500 minutes; allowed: at most 1440 (24 h)"),
    ({"segments": [{"posture": "supine", "minutes": 1, "transition_s": 90}]},
     "transition_s=90 is longer than the segment (1 minutes); allowed: 0-60 s"),
    ({"segments": [{"posture": "supine", "minutes": 1, "pace": 3}]}, "segments.0.pace=3: Extra inputs"),
    ({"segments": []}, "segments=[]: List should have at least 1 item"),
    ("- supine\n- prone\n", "a day file is a mapping with 'segments'"),
])
def test_day_file_errors_name_the_field_the_value_and_what_is_allowed(tmp_path, data, message):
    with pytest.raises(ValueError) as err:
        load_day(write(tmp_path, data))
    assert message in str(err.value)


def test_transitions_interpolate_between_postures_at_the_middle_of_each_tick():
    day = Day(segments=[{"posture": "supine", "minutes": 0.5}, {"posture": "prone", "minutes": 0.5,
                                                                  "transition_s": 4}])
    tl = timeline(day)
    assert tl.n == 60 and tl.postures == ["supine", "prone"]
    assert tl.mix([1.0, 2.0])[28:36].tolist() == [1.0, 1.0, 1.125, 1.375, 1.625, 1.875, 2.0, 2.0]


def test_a_posture_without_a_discomfort_threshold_is_never_overstimulated():
    day = Day(segments=[{"posture": "supine", "minutes": 1}, {"posture": "prone", "minutes": 1, "transition_s": 10}])
    tl = timeline(day)
    assert np.isinf(tl.mix([2.0, np.inf])[60:]).all() and tl.mix([2.0, np.inf])[59] == 2.0
    no_top = SCS["prone"].model_copy(update={"discomfort_threshold_ma": None})
    run = run_day(day, {**SCS, "prone": no_top}, scs_program(6.5), "scs_ipg", SCS_IMPLANT)
    assert run.outcome.open_loop.above_discomfort_pct == 50.0  # supine only (6.5 > 1.5 * 1.07 * 3 * 0.75 = 3.61)


def test_time_in_window_overstimulation_and_energy_by_hand_on_a_tiny_day():
    """Open loop at 1.2 mA. supine window 1.0-2.0 mA; sitting 1.5-3.0 mA, entered over 20 s; prone 0.5-1.1 mA.
    Minute 1 (supine): 60 ticks inside. Minute 2: the perception threshold 1 + 0.5 w passes 1.2 mA at w = 0.4,
    so the ticks whose middles are at 0.5 ... 7.5 s are inside (8), the other 52 below. Minute 3 (prone): 60
    above, entered once. Minute 4 (supine): 60 inside. Minute 5 (prone): 60 above, the second entry.
    Inside 128 / 300 = 42.667%, below 52 / 300 = 17.333%, above 120 / 300 = 40%."""
    def flat(perception, discomfort):
        return PostureResponse(amplitudes_ma=[0.0, 6.0], ecap_uv=[0.0, 60.0], perception_threshold_ma=perception,
                               discomfort_threshold_ma=discomfort)
    day = Day(segments=[{"posture": "supine", "minutes": 1}, {"posture": "sitting", "minutes": 1, "transition_s": 20},
                        {"posture": "prone", "minutes": 1}, {"posture": "supine", "minutes": 1},
                        {"posture": "prone", "minutes": 1}])
    program = Program(name="drg", leads={1: {"contacts": "-+00", "amplitude_ma": 1.2, "pulse_width_us": 300,
                                             "frequency_hz": 20, "enabled": True}})
    implant = [ImplantedLead(lead=1, lead_model="drg", impedance_ohm=1000)]
    run = run_day(day, {"supine": flat(1.0, 2.0), "sitting": flat(1.5, 3.0), "prone": flat(0.5, 1.1)}, program,
                  "drg_ipg", implant)
    o = run.outcome.open_loop
    assert (o.time_in_window_pct, o.below_perception_pct, o.above_discomfort_pct) == (42.667, 17.333, 40.0)
    assert o.overstimulation_events == 2 and o.adjustments == 0
    assert o.average_current_ua == pytest.approx(1.2 * 300 * 20 * 1e-3)  # I * PW * f = 7.2 uA
    per_hour = estimate_battery([LeadLoad(amplitude_ma=1.2, pulse_width_us=300, frequency_hz=20,
                                          impedance_ohm=1000)], get_ipg_model("drg_ipg").battery).battery_current_ua
    assert o.battery_mah_per_day == pytest.approx(per_hour * 24e-3, abs=1e-4)  # uA for 24 h in mAh


def test_closed_loop_keeps_scs_in_its_window_far_more_of_the_day_than_open_loop():
    """SCS: the posture moves the thresholds by a third either way (dorsal CSF); held at the ECAP programmed
    sitting, closed loop follows them (EVOKE: time in window, median 93.9% closed loop)."""
    run = run_day(load_day(EXAMPLE), SCS, scs_program(4.0), "scs_ipg", SCS_IMPLANT)
    o, c = run.outcome.open_loop, run.outcome.closed_loop
    assert c.time_in_window_pct > 99 and o.time_in_window_pct < 60 and o.overstimulation_events > 0
    assert c.overstimulation_events < o.overstimulation_events and c.above_discomfort_pct < 0.01  # a fast
    assert c.ecap_error_uv < 0.1 * o.ecap_error_uv  # transition can outrun the loop for a tick; open loop stays above
    assert c.adjustments == len([e for e in run.device.log if e.action == "loop_amplitude"]) > 0
    assert run.device.log.verify()
    ceiling = run_day(load_day(EXAMPLE), SCS, scs_program(4.0), "scs_ipg", SCS_IMPLANT, mode="ceiling")
    co = ceiling.outcome.closed_loop
    assert co.overstimulation_events < o.overstimulation_events and co.mean_amplitude_ma < o.mean_amplitude_ma


def test_where_posture_barely_changes_the_dose_closed_loop_changes_little():
    run = run_day(load_day(EXAMPLE), DRG, Program(name="drg", leads={1: {
        "contacts": "-+00", "amplitude_ma": 0.6, "pulse_width_us": 300, "frequency_hz": 20, "enabled": True}}),
        "drg_ipg", [ImplantedLead(lead=1, lead_model="drg", impedance_ohm=1000)])
    o, c = run.outcome.open_loop, run.outcome.closed_loop
    assert o.time_in_window_pct == c.time_in_window_pct == 100.0
    assert abs(c.mean_amplitude_ma - o.mean_amplitude_ma) < 0.02


def test_run_day_refuses_missing_postures_short_curves_and_a_disabled_lead():
    day = load_day(EXAMPLE)
    with pytest.raises(ValueError, match="no response for posture"):
        run_day(day, {"sitting": SCS["sitting"]}, scs_program(4.0), "scs_ipg", SCS_IMPLANT)
    short = {p: r.model_copy(update={"amplitudes_ma": r.amplitudes_ma[:100], "ecap_uv": r.ecap_uv[:100]})
             for p, r in SCS.items()}
    with pytest.raises(ValueError, match=r"amplitudes_ma spans 0-4.95 mA; allowed: covering the loop's range"):
        run_day(day, short, scs_program(4.0), "scs_ipg", SCS_IMPLANT, limits_ma=(0.0, 20.0))
    assert run_day(day, short, scs_program(4.0), "scs_ipg", SCS_IMPLANT).outcome.bounds_ma == (0.0, 4.95)
    with pytest.raises(ValueError, match="lead=2: allowed: an enabled lead"):
        run_day(day, SCS, scs_program(4.0), "scs_ipg", SCS_IMPLANT, lead=2)
    with pytest.raises(ValueError, match="mode='pid': allowed: pi, ceiling"):
        run_day(day, SCS, scs_program(4.0), "scs_ipg", SCS_IMPLANT, mode="pid")
    with pytest.raises(ValueError, match="discomfort_threshold_ma=1: allowed: above perception_threshold_ma=2"):
        PostureResponse(amplitudes_ma=[0, 1], ecap_uv=[0, 1], perception_threshold_ma=2, discomfort_threshold_ma=1)


def test_day_figure(tmp_path):
    run = run_day(load_day(EXAMPLE), SCS, scs_program(4.0), "scs_ipg", SCS_IMPLANT)
    path = day_figure(run, tmp_path / "day.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000


@pytest.mark.parametrize("args, message", [
    (["--day", "nope.yaml"], "--day='nope.yaml': No such file or directory"),
    (["--day", str(EXAMPLE), "--system", "tens"], "--system='tens': allowed: drg, scs"),
    (["--day", str(EXAMPLE), "--mode", "pid"], "--mode='pid': allowed: pi, ceiling"),
    (["--day", str(EXAMPLE), "--quality", "best"], "--quality='best': allowed: standard, quick"),
])
def test_cli_bad_input_exits_2_with_the_flag_and_what_is_allowed(args, message):
    res = runner.invoke(app, ["closedloop", *args, "--json"])
    assert res.exit_code == 2 and message in json.loads(res.stdout)["error"]


def test_cli_day_file_error_names_the_field(tmp_path):
    path = write(tmp_path, {"segments": [{"posture": "sidelying", "minutes": 10}]})
    res = runner.invoke(app, ["closedloop", "--day", str(path), "--json"])
    assert res.exit_code == 2 and "segments.0.posture='sidelying'" in json.loads(res.stdout)["error"]


def test_cli_contract(tmp_path, comparison):  # comparison: the quick tables in the cache first
    """The SCS lead's day from the physics: an evening, lying on the back then on the front (the largest change of
    the dorsal CSF), programmed supine; two postures keep the growth curves to a minute at the quick quality."""
    day = write(tmp_path, {"name": "evening", "segments": [{"posture": "supine", "minutes": 60},
                                                          {"posture": "prone", "minutes": 60, "transition_s": 4}]})
    res = runner.invoke(app, ["closedloop", "--patient", "default", "--system", "scs", "--day", str(day),
                              "--quality", "quick", "--program-posture", "supine", "--out", str(tmp_path),
                              "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for loop in ("open_loop", "closed_loop"):
        assert {"time_in_window_pct", "overstimulation_events", "average_current_ua"} <= set(out[loop])
    assert out["closed_loop"]["time_in_window_pct"] >= out["open_loop"]["time_in_window_pct"]
    assert out["programming_posture"] == "supine"  # the target is set where the program was chosen
    assert Path(out["figure"]).exists()


def test_a_drg_day_from_the_physics(drg_day):
    """The default patient's DRG lead through a short day, every response from the twin's own ECAP physics and
    thresholds: the growth curve rises with the amplitude in each posture (a rest drift of the DRG neurons once
    made it fall to 0 above 0.33 mA, so that closed loop refused the program), and closed loop holds the ECAP
    no worse than open loop, in the window."""
    run = drg_day
    for posture, r in run.responses.items():
        e = np.asarray(r.ecap_uv)
        fired = e > 0
        assert fired.sum() >= 3, posture
        assert np.all(np.diff(e[np.argmax(fired):]) >= -0.1 * e.max()), (posture, e)
    o, c = run.outcome.open_loop, run.outcome.closed_loop
    assert run.outcome.target_uv > 0 and run.outcome.programming_posture.value == "supine"
    assert c.ecap_error_uv <= o.ecap_error_uv and c.time_in_window_pct >= o.time_in_window_pct
