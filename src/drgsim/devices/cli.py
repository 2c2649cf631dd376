"""`drgsim device ...`: battery and safety of a setting, and program-file validation.

Registered in the main CLI as ``app.add_typer(devices_app, name="device")``. Every command has
``--json``; bad input prints a message naming the flag, the value, the allowed range and step and
the nearest valid values to stderr (with --json also {"error": msg} to stdout) and exits 2.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from drgsim.clierrors import fail
from drgsim.devices.battery import BatteryEstimate, LeadLoad, estimate_battery
from drgsim.devices.hardware import IPGModel, System, default_model_id, get_ipg_model
from drgsim.devices.program import ContactState, LeadSettings, Recharge
from drgsim.devices.programfile import ProgramFileError, load_program_file, validate_program_file
from drgsim.devices.ranges import fmt
from drgsim.devices.safety import assess_lead
from drgsim.errors import flag, validation_message

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="The device system: DRG and SCS stimulators, programs, safety and battery.")
program_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Program files (YAML/JSON).")
app.add_typer(program_app, name="program")


# A setting's name in a device problem, as the battery command's flag.
_SETTING_FLAG = re.compile(r"\b(amplitude_ma|pulse_width_us|frequency_hz|impedance_ohm|recharge(?==))\b")


def _catalog_help(what: str) -> str:
    """A help line's device facts, read from the catalog for each system's IPG (``drg ...; scs ...``): the range
    of parameter ``what``, or the lead count for ``leads``."""
    def fact(m: IPGModel) -> str:
        return f"1-{m.max_leads}" if what == "leads" else m.ranges()[what].describe()
    return "; ".join(f"{s.value} {fact(get_ipg_model(default_model_id(s.value)))}" for s in System)


class BatteryReport(BaseModel):
    """What `drgsim device battery` prints."""

    model_config = ConfigDict(extra="forbid")

    system: str
    device: str
    leads: int
    amplitude_ma: float
    pulse_width_us: float
    frequency_hz: float
    impedance_ohm: float
    recharge: Recharge
    hours_per_day: float
    duty_cycle: float
    capacity_mah: float
    average_current_ua: float
    battery_current_ua: float
    tissue_power_uw: float
    longevity_years: float
    longevity_limited_by: str
    recharge_interval_days: float | None
    recharge_time_hours: float | None
    charge_per_phase_uc: float
    charge_density_uc_per_cm2: float
    shannon_k: float | None
    contact_area_cm2: float
    load_voltage_v: float
    amplitude_ceiling_ma: float
    warnings: list[str]
    assumptions: list[str]
    unverified: list[str]
    battery: BatteryEstimate


@app.command()
def battery(
    amplitude_ma: Annotated[float, typer.Option(help=f"Amplitude per lead ({_catalog_help('amplitude_ma')}).")],
    pulse_width_us: Annotated[float, typer.Option(help=f"Pulse width ({_catalog_help('pulse_width_us')}).")],
    frequency_hz: Annotated[float, typer.Option(help=f"Frequency ({_catalog_help('frequency_hz')}).")],
    system: Annotated[System, typer.Option(help="drg (DRG IPG, primary cell) or scs (SCS IPG, rechargeable).")
                      ] = System.DRG,
    leads: Annotated[int, typer.Option(help=f"Active leads, all with this setting ({_catalog_help('leads')}).")] = 1,
    impedance_ohm: Annotated[float, typer.Option(help="Measured impedance of each lead's configuration.")] = 1000.0,
    hours_per_day: Annotated[float, typer.Option(help="Hours of stimulation per day (0-24).")] = 24.0,
    duty_cycle: Annotated[float, typer.Option(help="Cycling duty cycle, on / (on + off) (0-1).")] = 1.0,
    recharge: Annotated[Optional[Recharge], typer.Option(help="Recharge phase (default: the device's first).")] = None,
    capacity_mah: Annotated[Optional[float], typer.Option(
        help="Cell capacity, mAh (an unverified parameter); default: the catalog value.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Average current, longevity (or recharge interval) and charge safety of one setting."""
    model = get_ipg_model(default_model_id(system.value))
    if not 1 <= leads <= model.max_leads:
        fail(f"--leads={leads}: allowed 1-{model.max_leads} leads on {model.id}; nearest valid value: "
             f"{min(max(leads, 1), model.max_leads)}", as_json)
    if not impedance_ohm > 0:
        fail(f"--impedance-ohm={fmt(impedance_ohm)}: allowed above 0 and up to the open-circuit limit "
             f"{fmt(model.open_circuit_ohm)} ohm", as_json)
    mode = recharge or model.recharge_modes[0]
    bipole = [ContactState.CATHODE, ContactState.ANODE] + [ContactState.OFF] * (model.contacts_per_lead - 2)
    try:
        setting = LeadSettings(contacts=bipole, amplitude_ma=amplitude_ma, pulse_width_us=pulse_width_us,
                               frequency_hz=frequency_hz, recharge=mode, enabled=True)
    except ValidationError as err:
        fail(validation_message(err, flag), as_json)
    if problems := model.lead_problems(setting, impedance_ohm=impedance_ohm):
        fail(_SETTING_FLAG.sub(lambda m: flag((m[1],)), "; ".join(problems)) + f" ({model.id})", as_json)
    ceiling = model.amplitude_ceiling_ma(impedance_ohm)
    if not 0 <= hours_per_day <= 24:
        fail(f"--hours-per-day={fmt(hours_per_day)}: allowed 0-24", as_json)
    if not 0 <= duty_cycle <= 1:
        fail(f"--duty-cycle={fmt(duty_cycle)}: allowed 0-1", as_json)
    spec = model.battery
    if capacity_mah is not None:
        if not 0 < capacity_mah <= 100_000:
            fail(f"--capacity-mah={fmt(capacity_mah)}: allowed above 0 and up to 100000 mAh", as_json)
        spec = spec.model_copy(update={"capacity_mah": capacity_mah})

    load = LeadLoad(amplitude_ma=amplitude_ma, pulse_width_us=pulse_width_us, frequency_hz=frequency_hz,
                    impedance_ohm=impedance_ohm, recharge=mode)
    est = estimate_battery([load] * leads, spec, duty_cycle=duty_cycle, hours_per_day=hours_per_day)
    lead_model = model.default_lead_model
    safety = assess_lead(bipole, amplitude_ma, pulse_width_us, lead_model.contact_area_cm2,
                         impedance_ohm=impedance_ohm, compliance_v=model.compliance_v)
    warnings = [f"{w}; a device needs an explicit clinician override" for w in safety.warnings]
    assumptions = [
        f"each lead a bipole (one cathode, one anode) on {lead_model.id}: one contact carries the whole amplitude",
        f"contact area pi x {fmt(lead_model.contact_diameter_mm)} mm x {fmt(lead_model.contact_length_mm)} mm = "
        f"{lead_model.contact_area_cm2:.4f} cm2",
        f"{mode.value} recharge; output supply follows the load: battery current = (I^2 R PW f + I_avg x "
        f"{fmt(spec.output_headroom_v)} V headroom) / ({fmt(spec.converter_efficiency)} x "
        f"{fmt(spec.nominal_voltage_v)} V)"
        f" + quiescent {fmt(spec.quiescent_ua)} uA + telemetry {spec.telemetry_ua:.2f} uA + self-discharge "
        f"{spec.self_discharge_ua:.2f} uA",
    ]
    unverified = sorted({*(k for k in model.unverified if k.startswith("battery.") or k in
                           ("compliance_v", "recharge_modes", "open_circuit_ohm", "amplitude_ma", "pulse_width_us",
                            "frequency_hz")),
                         *(f"lead.{k}" for k in lead_model.unverified)}
                        | ({"battery.capacity_mah"} if capacity_mah is None else set()))
    report = BatteryReport(
        system=system.value, device=model.id, leads=leads, amplitude_ma=amplitude_ma, pulse_width_us=pulse_width_us,
        frequency_hz=frequency_hz, impedance_ohm=impedance_ohm, recharge=mode, hours_per_day=hours_per_day,
        duty_cycle=duty_cycle, capacity_mah=spec.capacity_mah, average_current_ua=est.average_current_ua,
        battery_current_ua=est.battery_current_ua, tissue_power_uw=est.tissue_power_uw,
        longevity_years=est.longevity_years, longevity_limited_by=est.longevity_limited_by,
        recharge_interval_days=est.recharge_interval_days, recharge_time_hours=est.recharge_time_hours,
        charge_per_phase_uc=safety.charge_per_phase_uc, charge_density_uc_per_cm2=safety.charge_density_uc_per_cm2,
        shannon_k=safety.shannon_k, contact_area_cm2=lead_model.contact_area_cm2,
        load_voltage_v=safety.load_voltage_v, amplitude_ceiling_ma=ceiling, warnings=warnings,
        assumptions=assumptions, unverified=unverified, battery=est)
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    table = Table(title=f"{model.name}: {leads} lead(s) x {fmt(amplitude_ma)} mA x {fmt(pulse_width_us)} us x "
                        f"{fmt(frequency_hz)} Hz at {fmt(impedance_ohm)} ohm")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [("average stimulation current", f"{est.average_current_ua:.2f} uA"),
            ("battery current", f"{est.battery_current_ua:.2f} uA"),
            ("tissue power (I^2 R PW f)", f"{est.tissue_power_uw:.2f} uW"),
            ("longevity", f"{est.longevity_years:.2f} years ({est.longevity_limited_by})")]
    if est.recharge_interval_days is not None:
        rows += [("recharge interval", f"{est.recharge_interval_days:.1f} days"),
                 ("recharge time", f"{est.recharge_time_hours:.2f} h")]
    rows += [("charge per phase", f"{safety.charge_per_phase_uc:.3f} uC"),
             ("charge density", f"{safety.charge_density_uc_per_cm2:.2f} uC/cm2"),
             ("Shannon k", "-" if safety.shannon_k is None else f"{safety.shannon_k:.2f}"),
             ("amplitude ceiling", f"{fmt(ceiling)} mA")]
    for k, v in rows:
        table.add_row(k, v)
    out = Console()
    out.print(table)
    for w in warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(w)}")


@program_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="Program file (.yaml, .yml or .json).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check a program file as the device would and print its safety and battery report."""
    if not file.is_file():
        fail(f"FILE={str(file)!r}: no such file", as_json)
    try:
        pf = load_program_file(file)
    except yaml.YAMLError as err:
        fail(f"{file}: not valid YAML/JSON: {err}", as_json)
    except ValidationError as err:
        fail(f"{file}: {validation_message(err)}", as_json)
    except ValueError as err:
        fail(f"{file}: {err}", as_json)
    try:
        report = validate_program_file(pf)
    except ProgramFileError as err:
        fail(f"{file}: the device refuses: {err}", as_json)
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    out = Console()
    for prog in report.programs:
        table = Table(title=f"{report.device_name}: program {prog.name!r}")
        for col in ("lead", "contacts", "on", "mA", "us", "Hz", "ohm", "ceiling mA", "uC/phase", "uC/cm2", "k",
                    "patient mA"):
            table.add_column(col, justify="right")
        for x in prog.leads:
            s = x.safety
            lim = x.patient_limits
            table.add_row(str(x.lead), x.contacts, "yes" if x.enabled else "no", fmt(x.amplitude_ma),
                          fmt(x.pulse_width_us), fmt(x.frequency_hz),
                          "-" if x.impedance_ohm is None else fmt(x.impedance_ohm),
                          "-" if x.amplitude_ceiling_ma is None else fmt(x.amplitude_ceiling_ma),
                          f"{s.charge_per_phase_uc:.3f}", f"{s.charge_density_uc_per_cm2:.2f}",
                          "-" if s.shannon_k is None else f"{s.shannon_k:.2f}",
                          "-" if lim is None else f"{fmt(lim.min_amplitude_ma)}-{fmt(lim.max_amplitude_ma)}")
        out.print(table)
        b = prog.battery
        line = (f"average current {b.average_current_ua:.2f} uA, battery current {b.battery_current_ua:.2f} uA, "
                f"longevity {b.longevity_years:.2f} years")
        if b.recharge_interval_days is not None:
            line += f", recharge every {b.recharge_interval_days:.1f} days ({b.recharge_time_hours:.2f} h)"
        out.print(escape(line))
    for w in report.warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(w)}")
    out.print(escape(f"valid: every program can be delivered by {report.device}. [unverified] parameters: "
                     f"{', '.join(report.unverified)}"))
