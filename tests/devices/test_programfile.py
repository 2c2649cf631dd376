"""Program files: schema errors name the field and the nearest values; the device replay refuses what it would."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from drgsim.devices import ProgramFile, load_program_file, validate_program_file
from drgsim.devices.programfile import ProgramFileError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "drg_program.yaml"


def base():
    return yaml.safe_load(EXAMPLE.read_text())


def test_example_file_is_valid_and_reported():
    report = validate_program_file(load_program_file(EXAMPLE))
    assert report.device == "drg_ipg" and [p.name for p in report.programs] == ["Foot 20 Hz", "Taper 4 Hz"]
    foot = report.programs[0]
    lead1 = foot.leads[0]
    assert lead1.safety.charge_density_uc_per_cm2 == pytest.approx(6.11, abs=0.01)
    assert lead1.impedance_ohm == 950 and lead1.amplitude_ceiling_ma == 6.0
    assert foot.leads[1].impedance_ohm == pytest.approx(480 + 510)  # contact 2 (-) + contact 3 (+)
    # 0.8 mA + 0.625 mA at 300 us, 20 Hz
    assert foot.battery.average_current_ua == pytest.approx((0.8 + 0.625) * 300 * 20 * 1e-3)
    assert report.programs[1].battery.longevity_years > foot.battery.longevity_years  # 4 Hz lasts longer
    assert "battery.capacity_mah" in report.unverified and report.warnings == []
    assert ProgramFile.model_validate_json(load_program_file(EXAMPLE).model_dump_json()) == load_program_file(EXAMPLE)


def test_yaml_bare_off_reads_as_off():
    data = base()
    data["programs"][0]["leads"][1]["contacts"] = ["-", "+", False, False]
    assert [c.value for c in ProgramFile.model_validate(data).programs[0].leads[1].contacts] == ["-", "+", "off", "off"]


@pytest.mark.parametrize("field,value,text", [
    ("amplitude_ma", 0.81, "programs.0.leads.1.amplitude_ma=0.81 mA is not on the device's step grid"),
    ("pulse_width_us", 30, "programs.0.leads.1.pulse_width_us=30 us is outside the allowed range"),
    ("frequency_hz", 101, "nearest valid value: 100 Hz"),
])
def test_schema_names_field_value_range_and_nearest(field, value, text):
    data = base()
    data["programs"][0]["leads"][1][field] = value
    with pytest.raises(ValidationError) as err:
        ProgramFile.model_validate(data)
    assert text in str(err.value)


def test_device_replay_refuses_an_unacknowledged_density_warning():
    data = base()
    lead = data["programs"][0]["leads"][1]
    lead.update(amplitude_ma=2.0, pulse_width_us=720, patient_limits={"min_amplitude_ma": 1.5, "max_amplitude_ma": 2.0})
    pf = ProgramFile.model_validate(data)
    with pytest.raises(ProgramFileError, match="override"):
        validate_program_file(pf)
    lead["density_override"] = True
    report = validate_program_file(ProgramFile.model_validate(data))
    assert any("36.7 uC/cm2" in w for w in report.warnings)


def test_device_replay_refuses_compliance_and_config_errors():
    data = base()
    data["implant"][0]["impedance_ohm"] = 2500  # ceiling 4 mA
    data["programs"][0]["leads"][1].update(amplitude_ma=4.05, pulse_width_us=40,
                                           patient_limits={"min_amplitude_ma": 4.0, "max_amplitude_ma": 4.05})
    with pytest.raises(ProgramFileError, match="compliance"):
        validate_program_file(ProgramFile.model_validate(data))
    data = base()
    data["programs"][0]["leads"][1]["contacts"] = ["-", "-", "off", "off"]
    with pytest.raises(ProgramFileError, match="at least one \\+ and one -"):
        validate_program_file(ProgramFile.model_validate(data))


def test_unknown_device_and_lead_are_schema_errors():
    data = base()
    data["device"] = "magic"
    with pytest.raises(ValidationError, match="allowed: drg_ipg"):
        ProgramFile.model_validate(data)
    data = base()
    data["programs"][0]["leads"][3] = data["programs"][0]["leads"][1]
    with pytest.raises(ValidationError, match="lead 3 is not in the implant"):
        ProgramFile.model_validate(data)
