"""The two hand-held programmers: the patient controller and the clinician programmer.

- ``PatientController`` (Proclaim DRG: a phone app over Bluetooth; Axium era: MICS 402-405 MHz;
  Axium Clinical Programmer manual MN20700-03): therapy on/off, choose a program, amplitude up/down in device steps
  only within
  the clinician's limits, battery status, MRI mode on/off; on a trial stimulator, battery
  replacement; on a rechargeable IPG, recharging.
- ``ClinicianProgrammer``: impedance check, create/edit programs, patient limits, closed loop, the event log.

Both only call the device's actions with their own ``Actor``; every rule lives in the device, so
a controller cannot do anything the device would refuse.
"""

from __future__ import annotations

from typing import Any

from drgsim.devices.closedloop import Controller
from drgsim.devices.events import Actor, Event
from drgsim.devices.ipg import ActionResult, BatteryStatus, DeviceStatus, Neurostimulator
from drgsim.devices.program import Recharge
from drgsim.devices.safety import LeadSafety


class PatientController:
    def __init__(self, device: Neurostimulator, patient: str = "patient") -> None:
        self.device = device
        self.actor = Actor(role="patient", name=patient)

    def therapy_on(self) -> ActionResult:
        return self.device.therapy_on(self.actor)

    def therapy_off(self) -> ActionResult:
        return self.device.therapy_off(self.actor)

    def select_program(self, name: str) -> ActionResult:
        return self.device.select_program(self.actor, name)

    def programs(self) -> list[str]:
        return self.device.status().programs

    def amplitude_up(self, lead: int | None = None, steps: int = 1) -> ActionResult:
        """One device step up (25 uA below 2 mA, 50 uA above on the DRG IPG) on ``lead`` or all enabled leads."""
        return self.device.step_amplitude(self.actor, abs(steps), lead)

    def amplitude_down(self, lead: int | None = None, steps: int = 1) -> ActionResult:
        return self.device.step_amplitude(self.actor, -abs(steps), lead)

    def battery_status(self) -> BatteryStatus:
        return self.device.battery_status()

    def mri_mode(self, on: bool) -> ActionResult:
        return self.device.set_mri_mode(self.actor, on)

    def replace_battery(self) -> ActionResult:
        return self.device.replace_battery(self.actor)

    def recharge(self, hours: float) -> ActionResult:
        return self.device.recharge(self.actor, hours)

    def status(self) -> DeviceStatus:
        return self.device.status()


class ClinicianProgrammer:
    def __init__(self, device: Neurostimulator, clinician: str = "clinician") -> None:
        self.device = device
        self.actor = Actor(role="clinician", name=clinician)

    def measure_impedance(self, program: str, lead: int) -> ActionResult:
        return self.device.measure_impedance(self.actor, program, lead)

    def create_program(self, name: str) -> ActionResult:
        return self.device.create_program(self.actor, name)

    def delete_program(self, name: str) -> ActionResult:
        return self.device.delete_program(self.actor, name)

    def set_contacts(self, program: str, lead: int, contacts) -> ActionResult:
        return self.device.set_contacts(self.actor, program, lead, contacts)

    def set_amplitude(self, program: str, lead: int, amplitude_ma: float, *, override: bool = False) -> ActionResult:
        return self.device.set_amplitude(self.actor, program, lead, amplitude_ma, override=override)

    def set_pulse_width(self, program: str, lead: int, pulse_width_us: float, *,
                        override: bool = False) -> ActionResult:
        return self.device.set_pulse_width(self.actor, program, lead, pulse_width_us, override=override)

    def set_frequency(self, program: str, lead: int, frequency_hz: float) -> ActionResult:
        return self.device.set_frequency(self.actor, program, lead, frequency_hz)

    def set_recharge(self, program: str, lead: int, recharge: Recharge | str) -> ActionResult:
        return self.device.set_recharge(self.actor, program, lead, recharge)

    def enable_lead(self, program: str, lead: int, *, override: bool = False) -> ActionResult:
        return self.device.enable_lead(self.actor, program, lead, override=override)

    def disable_lead(self, program: str, lead: int) -> ActionResult:
        return self.device.disable_lead(self.actor, program, lead)

    def set_patient_limits(self, program: str, lead: int, min_amplitude_ma: float | None,
                           max_amplitude_ma: float | None, *, override: bool = False) -> ActionResult:
        return self.device.set_patient_limits(self.actor, program, lead, min_amplitude_ma, max_amplitude_ma,
                                              override=override)

    def set_closed_loop(self, program: str, lead: int, controller: Controller | dict[str, Any] | None) -> ActionResult:
        return self.device.set_closed_loop(self.actor, program, lead, controller)

    def set_cycling(self, program: str, cycle_on_s: float | None, cycle_off_s: float | None) -> ActionResult:
        return self.device.set_cycling(self.actor, program, cycle_on_s, cycle_off_s)

    def select_program(self, name: str) -> ActionResult:
        return self.device.select_program(self.actor, name)

    def therapy_on(self) -> ActionResult:
        return self.device.therapy_on(self.actor)

    def therapy_off(self) -> ActionResult:
        return self.device.therapy_off(self.actor)

    def safety_report(self, program: str, *, at_patient_max: bool = False) -> list[LeadSafety]:
        return self.device.safety_report(program, at_patient_max=at_patient_max)

    def event_log(self) -> tuple[Event, ...]:
        return self.device.log.events
