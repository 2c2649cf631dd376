"""Closed-loop amplitude control from the evoked compound action potential (ECAP), inside the device rules.

Two controllers, as the two marketed closed-loop SCS systems work:

- ``PIControl`` (Saluda Evoke: the ECAP is measured after every pulse and the current adjusted to hold it at a
  target; Mekhail et al. 2020 Lancet Neurol; 24 months, JAMA Neurol 2022; 36 months, Reg Anesth Pain Med 2024):
  a proportional-integral law on the error ``target_uv - ECAP`` in velocity form,
  ``u += kp * (e - e_prev) + ki * e * dt``, with a deadband in which the error counts as zero.
- ``CeilingControl`` (Medtronic Inceptiv: senses the neural response 50 times a second, lowers the stimulation
  when the response rises, e.g. on bending or coughing, and restores it to the programmed level when it falls;
  Medtronic 2023 CE-mark release; Vallejo et al. 2021 J Pain Res): above ``ceiling_uv`` the current falls by
  ``k_down * (ECAP - ceiling) * dt``; below it the current climbs back at ``restore_ma_per_s``, never above the
  programmed amplitude; within ``deadband_uv`` of the ceiling it holds.

Device rules. The controller's state ``u`` (mA, continuous) is bounded by the lead's clinician window (its patient
limits, which closed loop requires) and the compliance ceiling of the measured impedance; at a bound the state
stops there (anti-windup: the integrator does not wind beyond what the device can deliver). The delivered
amplitude is the device grid value nearest ``u`` inside those bounds, and every change of it is one
``loop_amplitude`` action of the device (``Neurostimulator.loop_amplitude``: copy, validate, commit, one event
in the log). Evoke adjusts per pulse, far finer than the grid; drgsim logs one event per change of the grid
value, not per pulse, so the log holds what the device did without a flood of unchanged pulses.

Time resolution [drgsim's simulation choice]: the loop runs at ticks of ``tick_s`` (the day simulation uses 1 s);
per tick one ECAP is measured at the delivered amplitude and the controller integrates that error over the tick
(the per-pulse law summed over the tick's pulses with the ECAP held). This follows the per-pulse law while
the ECAP changes little within a tick; posture transitions take seconds. The gains and the deadband are
settings a clinician programs ([unverified]: the marketed devices' values are not published); their defaults
[drgsim's defaults] correct half the ECAP error per second on a 100 uV/mA growth curve (``DEFAULT_GAIN_MA_PER_UV_S``)
and restore 0.05 mA per second (two DRG or one SCS device step).

Where it lives. The controller is a lead's setting in a program (``LeadSettings.closed_loop``; None: open loop),
programmed by the clinician action ``Neurostimulator.set_closed_loop`` and kept in the device state; ``run_loop``
runs the stored one. The device model must sense ECAPs (``IPGModel.ecap_sensing``, a catalogue fact with its source).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drgsim.errors import dotted, validation_message

if TYPE_CHECKING:  # the controller is a lead setting (devices.program), below the device that runs it
    from drgsim.devices.ipg import Neurostimulator


class ClosedLoopError(ValueError):
    """The device cannot run closed loop as asked; the message names the setting, its value and what is allowed."""


DEFAULT_GAIN_MA_PER_UV_S = 0.005  # PI integral gain and ceiling k_down [drgsim's default, see above]
DEFAULT_RESTORE_MA_PER_S = 0.05  # ceiling mode's climb back to the programmed amplitude [drgsim's default]


class PIControl(BaseModel):
    """Evoke-like: hold the ECAP at ``target_uv`` with a PI law (gains in mA per uV, mA per uV per second)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["pi"] = "pi"
    target_uv: float = Field(gt=0, le=10_000)
    ki_ma_per_uv_s: float = Field(DEFAULT_GAIN_MA_PER_UV_S, gt=0, le=10)
    kp_ma_per_uv: float = Field(0.0, ge=0, le=1)
    deadband_uv: float = Field(0.0, ge=0, le=1_000)

    def step(self, u: float, ecap_uv: float, prev_error_uv: float, programmed_ma: float,
             dt_s: float) -> tuple[float, float]:
        """The next state and the error it acted on."""
        e = self.target_uv - ecap_uv
        e = 0.0 if abs(e) <= self.deadband_uv else e
        return u + self.kp_ma_per_uv * (e - prev_error_uv) + self.ki_ma_per_uv_s * e * dt_s, e


class CeilingControl(BaseModel):
    """Inceptiv-like: lower the current while the ECAP is above ``ceiling_uv``, restore it toward the programmed
    amplitude when it is not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["ceiling"] = "ceiling"
    ceiling_uv: float = Field(gt=0, le=10_000)
    k_down_ma_per_uv_s: float = Field(DEFAULT_GAIN_MA_PER_UV_S, gt=0, le=10)
    restore_ma_per_s: float = Field(DEFAULT_RESTORE_MA_PER_S, gt=0, le=10)
    deadband_uv: float = Field(0.0, ge=0, le=1_000)

    def step(self, u: float, ecap_uv: float, prev_error_uv: float, programmed_ma: float,
             dt_s: float) -> tuple[float, float]:
        excess = ecap_uv - self.ceiling_uv
        if excess > self.deadband_uv:
            return u - self.k_down_ma_per_uv_s * excess * dt_s, -excess
        if excess < -self.deadband_uv:
            return min(programmed_ma, u + self.restore_ma_per_s * dt_s), 0.0
        return u, 0.0


Controller = Annotated[PIControl | CeilingControl, Field(discriminator="mode")]
MODES = {"pi": PIControl, "ceiling": CeilingControl}


def as_controller(setting: Controller | dict[str, Any]) -> Controller:
    """A controller from its fields (``mode`` picks the kind); ClosedLoopError naming each field (as
    ``closed_loop.<field>``), the value given and the bound it breaks."""
    if isinstance(setting, (PIControl, CeilingControl)):
        return setting
    mode = setting.get("mode") if isinstance(setting, dict) else None
    if mode not in MODES:
        raise ClosedLoopError(f"closed_loop.mode={mode!r}: allowed: {', '.join(map(repr, MODES))}")
    try:
        return MODES[mode].model_validate(setting)
    except ValidationError as err:
        raise ClosedLoopError(validation_message(err, lambda loc: "closed_loop." + dotted(loc))) from None


@dataclass(frozen=True)
class LoopTrace:
    """What the loop did, per tick: the delivered amplitude and the ECAP measured at it; the device events of
    its adjustments (one per change of the delivered amplitude)."""

    tick_s: float
    amplitude_ma: np.ndarray
    ecap_uv: np.ndarray
    bounds_ma: tuple[float, float]
    events: int


def loop_bounds(device: Neurostimulator, program: str, lead: int) -> tuple[float, float]:
    """The amplitudes closed loop may deliver on ``lead``: its clinician window within the compliance ceiling.
    Raises ClosedLoopError when the lead cannot run closed loop."""
    st = device.state
    if not st.therapy_on or st.active_program != program:
        raise ClosedLoopError(f"program={program!r}: closed loop needs it selected and therapy on (running: "
                              f"{st.active_program if st.therapy_on else 'none'})")
    if lead not in st.programs[program].leads:
        raise ClosedLoopError(f"lead={lead!r}: allowed: {sorted(st.programs[program].leads)}")
    ls = st.programs[program].leads[lead]
    if not ls.enabled:
        raise ClosedLoopError(f"lead={lead}: the lead is disabled in program {program!r}; closed loop needs it on")
    if ls.patient_limits is None:
        raise ClosedLoopError(f"lead={lead}: no clinician window; set patient limits (min_amplitude_ma, "
                              f"max_amplitude_ma) for closed loop to move within")
    hi = min(ls.patient_limits.max_amplitude_ma, device.amplitude_ceiling_ma(program, lead))
    return ls.patient_limits.min_amplitude_ma, hi


def run_loop(device: Neurostimulator, program: str, lead: int, measure: Callable[[int, float], float],
             n_ticks: int, tick_s: float = 1.0) -> LoopTrace:
    """Run the closed-loop controller programmed on the running ``program``'s ``lead`` for ``n_ticks`` ticks of
    ``tick_s``: at tick ``i`` the device measures ``measure(i, delivered_ma)`` (uV) and adjusts; each change of the
    delivered amplitude is a device action at its time on the device clock, which the run moves on by
    ``n_ticks * tick_s``."""
    if not isinstance(n_ticks, int) or n_ticks < 1:
        raise ClosedLoopError(f"n_ticks={n_ticks!r}: allowed: a whole number >= 1")
    if not 0 < tick_s <= 60:
        raise ClosedLoopError(f"tick_s={tick_s!r}: allowed: > 0 and <= 60 s")
    lo, hi = loop_bounds(device, program, lead)
    controller = device.program(program).leads[lead].closed_loop
    if controller is None:
        raise ClosedLoopError(f"lead={lead}: runs open loop in program {program!r}; program a controller first "
                              f"(set_closed_loop)")
    grid = device.model.amplitude_ma.grid
    allowed = grid[(grid >= lo - 1e-9) & (grid <= hi + 1e-9)]
    programmed = device.program(program).leads[lead].amplitude_ma
    half_step = float(np.min(np.diff(allowed))) / 2 if len(allowed) > 1 else np.inf
    amps, ecaps = np.empty(n_ticks), np.empty(n_ticks)
    a = u = programmed
    e_prev, clock_s, events = 0.0, 0.0, 0
    for i in range(n_ticks):
        ecap = measure(i, a)
        amps[i], ecaps[i] = a, ecap
        u, e_prev = controller.step(u, ecap, e_prev, programmed, tick_s)
        u = min(max(u, lo), hi)
        if abs(u - a) < half_step:
            continue
        j = int(np.searchsorted(allowed, u))
        new = float(allowed[j] if j == 0 or (j < len(allowed) and allowed[j] - u < u - allowed[j - 1])
                    else allowed[j - 1])
        if new == a:
            continue
        device.advance(((i + 1) * tick_s - clock_s) / 3600.0)
        clock_s = (i + 1) * tick_s
        device.loop_amplitude(program, lead, new, controller=controller.mode, ecap_uv=ecap).raise_if_rejected()
        a, events = new, events + 1
    device.advance((n_ticks * tick_s - clock_s) / 3600.0)
    return LoopTrace(tick_s=tick_s, amplitude_ma=amps, ecap_uv=ecaps, bounds_ma=(lo, hi), events=events)

