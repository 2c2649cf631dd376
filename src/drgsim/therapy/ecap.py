"""Evoked compound action potentials (ECAP): what a lead's other contacts record when a pulse recruits cells.

Recording. A contact's unit-current field is its recording sensitivity (reciprocity; ``neurons.recording``), so
the potential it records is the membrane current of every compartment of every active cell weighted by that
field, each cell with its own conduction delays (Anaya et al. 2020 computed SCS ECAPs the same way). The cells
are independent, so the population's signal is the sum of single-cell signals: the ECAP at amplitude A sums the
evoked signals of the cells that fire at A (``ThresholdTable.fires``), each traced at A, less the membrane's
passive response (linear in the amplitude, removed with the artifact: ``neurons.recording.evoked_uv``). A cell's
signal is not traced once at its threshold and reused: near threshold a spike starts late (at the pulse's end or
after it), so the N1 of a dorsal-column fibre comes 0.2-0.4 ms earlier at 1.6x its threshold than at threshold,
and such reused signals summed missed a run of the population by more than the ECAP itself (measured on the
default patient's SCS lead; tests/therapy/test_ecap.py checks the sum against a run of every cell). A modelled
cell stands for ``CELLS_REPRESENTED[kind]`` / (modelled cells of its kind) real ones [unverified counts]: the
outcomes need only shares, an ECAP needs how many fibres fire.

Stimulation artifact [model]: the stimulus current itself, seen at the recording contact through the tissue's
transfer impedance (the mutual impedances of the field solution), with the waveform the device delivers: the
leading phase, then for passive recharge the coupling capacitor discharging through the electrode-tissue
interface, an exponential decay (``devices.waveform``). It is linear in the amplitude; the growth curves assume
the device removes it (artifact models subtracted, Chakravarthy et al. 2022) and leave it out unless
``RecordingChain.artifact`` is set.

Recording chain: the recording contact referenced to a reference contact (default the IPG case, far away),
first-order high- and low-pass filters (bandwidth), white noise (RMS), and the measurement of Parker et al. 2012
(Pain 153:593): N1, the first negative peak after the pulse, P2 the positive peak after it, the ECAP amplitude
P2 - N1 (uV) and the N1 latency from the pulse's start. The ECAP threshold is the lowest amplitude whose ECAP
reaches ``detection_uv``; Pilitsis et al. 2021 found it close to the perception threshold across postures, and
the closed-loop trial (Mekhail et al. 2020, EVOKE) holds the ECAP at a target as posture changes the distance
to the cord (dCSF): thinner CSF, lower thresholds and steeper growth.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import signal

from drgsim.anatomy.posture import Posture
from drgsim.devices.program import ContactState, Program, contacts_label
from drgsim.devices.waveform import contact_weights
from drgsim.neurons.recording import evoked_uv, recorded_uv
from drgsim.therapy.model import Site, System, TherapyModel, ThresholdTable
from drgsim.therapy.outcomes import evaluate_posture, lead_tables

# Real cells a kind's modelled cells stand for [unverified]: the shallow dorsal column under an SCS lead (the
# modelled band of paresthesia fibres), the A-beta fibres of one dorsal root's rootlets, and one lumbosacral
# ganglion's neurons (about 40,000, split as the DRG population's fractions) with its segment's motor axons.
CELLS_REPRESENTED = {"dorsal_column": 40_000, "dorsal_root": 8_000, "abeta": 6_800, "adelta": 18_400, "c": 14_800,
                     "motor": 3_000}
_MODEL = ConfigDict(extra="forbid", frozen=True)


class RecordingChain(BaseModel):
    """Where and how the ECAP is recorded. Contacts are 1-based on the stimulating lead; ``recording_contact``
    None: the lead's off contact farthest from its cathodes (the most conduction distance, the least artifact,
    as ECAP systems record several contacts away: Parker et al. 2012); ``reference_contact`` None: the IPG case
    (far: its lead field is taken as 0). Bandwidth and noise of the amplifier are project defaults [unverified]."""

    model_config = _MODEL

    recording_contact: int | None = Field(None, ge=1, le=32)
    reference_contact: int | None = Field(None, ge=1, le=32)
    high_pass_hz: float = Field(100.0, gt=0, le=5_000)
    low_pass_hz: float = Field(10_000.0, gt=100, le=50_000)
    noise_uv_rms: float = Field(0.0, ge=0, le=1_000)
    seed: int = 0
    blank_ms: float = Field(0.05, ge=0, le=5, description="after the leading phase, before N1 is looked for")
    window_ms: float = Field(3.0, gt=0.2, le=50, description="recorded from the pulse's start")
    detection_uv: float = Field(5.0, gt=0, le=1_000, description="ECAP amplitude that counts as detected")
    artifact: bool = False


class EcapRecording(BaseModel):
    """One recorded sweep: times (ms from the pulse's start), the neural signal, the artifact and what the chain
    gives (uV), with the ECAP measured on it (amplitude 0 and no latency where nothing fires)."""

    model_config = _MODEL

    amplitude_ma: float
    t_ms: list[float]
    neural_uv: list[float]
    artifact_uv: list[float]
    recorded_uv: list[float]
    n1_uv: float
    p2_uv: float
    ecap_uv: float
    latency_ms: float | None
    cells_fired: int


class PostureEcap(BaseModel):
    """The growth curve of one posture: ECAP amplitude (P2 - N1, uV) and N1 latency at each amplitude, the ECAP
    threshold (None: not reached up to the curve's end), the perception threshold of the same lead
    (``therapy.outcomes``), the N1 latency at the largest amplitude and the slope of the detected part."""

    model_config = _MODEL

    amplitudes_ma: list[float]
    ecap_uv: list[float]
    latency_ms_per_amplitude: list[float | None]
    ecap_threshold_ma: float | None
    perception_threshold_ma: float | None
    latency_ms: float | None
    growth_slope_uv_per_ma: float | None


class EcapGrowth(BaseModel):
    """ECAP growth curves of one lead's configuration in each posture (``growth_curves``)."""

    model_config = _MODEL

    system: System
    lead: int
    contacts: str
    recording_contact: int
    reference: str
    chain: RecordingChain
    postures: dict[str, PostureEcap]

    def contract(self) -> dict:
        """The CLI's contract: ``{"postures": {name: [{"amplitude_ma", "ecap_uv"}...]}}`` and the rest beside."""
        out = self.model_dump(mode="json")
        out["curves"] = out.pop("postures")
        out["postures"] = {p: [{"amplitude_ma": a, "ecap_uv": e} for a, e in zip(c.amplitudes_ma, c.ecap_uv)]
                           for p, c in self.postures.items()}
        return out


def recording_contacts(contacts: list[ContactState], chain: RecordingChain) -> tuple[int, int | None]:
    """The recording contact and reference (1-based; None: the case) of a configuration; a contact that
    stimulates, or that the lead lacks, is bad input."""
    n = len(contacts)
    cathodes = [i for i, c in enumerate(contacts, start=1) if c == ContactState.CATHODE]
    rec = chain.recording_contact
    if rec is None:
        off = [i for i, c in enumerate(contacts, start=1) if c == ContactState.OFF]
        if not off:
            raise ValueError(f"contacts {contacts_label(contacts)}: every "
                             "contact stimulates; an ECAP needs an off contact to record on")
        rec = max(off, key=lambda i: (min(abs(i - k) for k in cathodes), i))
    for name, k in (("recording_contact", rec), ("reference_contact", chain.reference_contact)):
        if k is None:
            continue
        if not 1 <= k <= n:
            raise ValueError(f"{name}={k}; allowed: 1-{n} (the lead's contacts)")
        if contacts[k - 1] != ContactState.OFF:
            raise ValueError(f"{name}={k}: that contact stimulates ({contacts[k - 1].value}); allowed: an off contact")
    if chain.reference_contact == rec:
        raise ValueError(f"reference_contact={rec}: the recording contact itself; allowed: another off contact")
    return rec, chain.reference_contact


class Sweep:
    """One lead's configuration in one posture: the cells that fire up to ``top_ma``, what the recording contact
    sees of each (its lead field), the artifact's transfer impedance (ohm) and the chain that turns them into a
    recording at any amplitude (``record``). A cell's evoked signal at an amplitude is traced once and kept."""

    def __init__(self, model: TherapyModel, site: Site, table: ThresholdTable, contacts: list[ContactState],
                 chain: RecordingChain, top_ma: float):
        self.table, self.chain = table, chain
        rec, ref = recording_contacts(contacts, chain)
        phi = site.contact_potentials()
        self.lead_field = phi[:, rec - 1] - (phi[:, ref - 1] if ref else 0.0)
        z = site.impedance_matrix()
        self.transfer_ohm = float((z[rec - 1] - (z[ref - 1] if ref else 0.0)) @ contact_weights(contacts))
        self.batch, self.v = site.configuration_potentials(contacts)
        self.settings = model.quality.settings.model_copy(update={"tstop_ms": chain.window_ms})
        kinds = site.kinds
        self.weight = np.array([CELLS_REPRESENTED[k] / (kinds == k).sum() for k in kinds])
        thr = table.threshold_ma
        self.top_ma = top_ma
        self.cells = np.flatnonzero(np.isfinite(thr) & (thr <= top_ma * (1 + 1e-9)))
        self.dt_ms = self.settings.dt_us * 1e-3
        self.t_ms = (np.arange(int(round(chain.window_ms / self.dt_ms))) + 1) * self.dt_ms
        self._signals: dict[tuple[int, float], np.ndarray] = {}
        self._rest: dict[int, np.ndarray] = {}  # each cell's recording with no stimulus (``evoked_uv``'s rest_uv)

    def neural_uv(self, amplitude_ma: float) -> tuple[np.ndarray, int]:
        """The summed evoked signals (uV, each cell's weighted by the real cells it stands for) of the cells firing
        at ``amplitude_ma``, and how many modelled cells fire. Traced in threads (the kernel releases the GIL)."""
        fired = [int(c) for c in self.cells[self.table.fires(amplitude_ma)[self.cells]]]
        todo = [c for c in fired if (c, amplitude_ma) not in self._signals]
        with ThreadPoolExecutor(max_workers=max(1, nb.get_num_threads())) as pool:
            for c, uv in zip(todo, pool.map(lambda c: self._evoked(c, amplitude_ma), todo)):
                self._signals[(c, amplitude_ma)] = uv
        return sum((self._signals[(c, amplitude_ma)] for c in fired), np.zeros(len(self.t_ms))), len(fired)

    def _evoked(self, c: int, amplitude_ma: float) -> np.ndarray:
        lo, hi = self.batch.offsets[c], self.batch.offsets[c + 1]
        if c not in self._rest:
            self._rest[c] = recorded_uv(self.batch, self.v, 0.0, self.table.waveform, self.lead_field[lo:hi],
                                        self.settings, cell=c)[1]
        _, uv = evoked_uv(self.batch, self.v, amplitude_ma, self.table.waveform, self.lead_field[lo:hi], self.settings,
                          cell=c, rest_uv=self._rest[c])
        return uv * self.weight[c]

    @property
    def start_ms(self) -> float:
        """Where N1 is looked for from: the end of the leading phase plus the blanking."""
        return self.table.waveform.full_amplitude_end_ms() + self.chain.blank_ms

    def with_chain(self, chain: RecordingChain) -> Sweep:
        """The same signals through another chain's bandwidth, noise, artifact or measurement (its recording and
        reference contacts must be this sweep's: the signals were weighted by their fields)."""
        if (chain.recording_contact, chain.reference_contact) != (self.chain.recording_contact,
                                                                  self.chain.reference_contact):
            raise ValueError("recording_contact and reference_contact: the signals were recorded on "
                             f"{self.chain.recording_contact} against {self.chain.reference_contact}; allowed: "
                             "the same (sweep again for others)")
        out = copy.copy(self)
        out.chain = chain
        return out

    def record(self, amplitude_ma: float) -> EcapRecording:
        """The sweep at ``amplitude_ma``: the signals of the cells firing there, the artifact, the chain."""
        neural, fired = self.neural_uv(amplitude_ma)
        stimulus = self.table.waveform.sample(self.dt_ms, len(self.t_ms))
        artifact = amplitude_ma * stimulus * self.transfer_ohm * 1e3  # mA x ohm = mV
        chain = self.chain
        x = neural + (artifact if chain.artifact else 0.0)
        if chain.noise_uv_rms:
            seed = [chain.seed, int(round(amplitude_ma * 1e6))]
            x = x + np.random.default_rng(seed).normal(0.0, chain.noise_uv_rms, len(x))
        nyquist_hz = 0.5 / (self.dt_ms * 1e-3)
        for b, a in (signal.butter(1, min(chain.high_pass_hz / nyquist_hz, 0.99), "highpass"),
                     signal.butter(1, min(chain.low_pass_hz / nyquist_hz, 0.99), "lowpass")):
            x = signal.lfilter(b, a, x)
        n1, p2, latency = _measure(self.t_ms, x, self.start_ms) if fired else (0.0, 0.0, None)
        r = lambda v: [round(float(u), 4) for u in v]  # noqa: E731
        return EcapRecording(amplitude_ma=amplitude_ma, t_ms=r(self.t_ms), neural_uv=r(neural), artifact_uv=r(artifact),
                             recorded_uv=r(x), n1_uv=n1, p2_uv=p2, ecap_uv=round(p2 - n1, 4), latency_ms=latency,
                             cells_fired=fired)

    def threshold_ma(self) -> float | None:
        """The lowest amplitude up to the sweep's top whose ECAP reaches the detection level: the cells that fire
        change only where a cell's threshold (or block) is crossed, so those amplitudes are tried in order."""
        edges = np.concatenate([self.table.threshold_ma[self.cells], self.table.block_ma[self.cells]])
        for a in np.unique(edges[edges <= self.top_ma * (1 + 1e-9)]):
            if self.record(float(a)).ecap_uv >= self.chain.detection_uv:
                return float(a)
        return None


def _measure(t_ms: np.ndarray, uv: np.ndarray, start_ms: float) -> tuple[float, float, float]:
    """N1 (the most negative value from ``start_ms`` on), P2 (the largest after it) and N1's latency."""
    idx = np.flatnonzero(t_ms >= start_ms)
    i = idx[int(np.argmin(uv[idx]))]
    return round(float(uv[i]), 4), round(float(uv[i:].max()), 4), round(float(t_ms[i]), 4)


def stimulating_lead(program: Program, lead: int | None) -> int:
    """``lead``, or with None the program's first enabled lead: the lead whose ECAP is recorded (and controlled in
    closed loop); a ValueError when it is not an enabled lead of the program."""
    on = sorted(program.enabled_leads())
    if not on:
        raise ValueError(f"program {program.name!r}: no lead is enabled; an ECAP needs a stimulating lead")
    if lead is None:
        return on[0]
    if lead not in on:
        raise ValueError(f"lead={lead!r}: allowed: an enabled lead of program {program.name!r} "
                         f"({', '.join(map(str, on))})")
    return lead


def sweeps(model: TherapyModel, program: Program, postures=tuple(Posture), lead: int | None = None,
           chain: RecordingChain = RecordingChain(), max_factor: float = 2.0) -> tuple[dict[Posture, Sweep],
                                                                                     dict[Posture, float | None],
                                                                                     float]:
    """Per posture the sweep of ``lead`` (default the program's first enabled one) and its perception threshold,
    and the top of the amplitude range: ``max_factor`` x the highest perception threshold (the device's maximum
    where that is lower, or where no posture has one)."""
    lead = stimulating_lead(program, lead)
    postures = [Posture(p) for p in postures]
    device_max = model.implant.ipg().amplitude_ma.maximum
    perception, tables = {}, {}
    for p in postures:
        tables[p] = lead_tables(model, program, p)[lead][0]
        act = next(x for x in evaluate_posture(model, program, p).leads if x.lead == lead)
        perception[p] = act.perception_threshold_ma
    known = [v for v in perception.values() if v is not None]
    top = min(device_max, max_factor * max(known)) if known else device_max
    contacts = program.leads[lead].contacts
    out = {p: Sweep(model, model.site(lead, p), tables[p], contacts, chain, top) for p in postures}
    return out, perception, top


def growth_curves(model: TherapyModel, program: Program, postures=tuple(Posture), lead: int | None = None,
                  chain: RecordingChain = RecordingChain(), n_amplitudes: int = 20,
                  max_factor: float = 2.0, progress=None) -> EcapGrowth:
    """ECAP growth curves of ``program``'s ``lead`` (default its first enabled lead; its contacts, pulse width
    and recharge, any amplitude) in each posture, recorded as ``chain`` says: ``n_amplitudes`` amplitudes evenly
    up to ``max_factor`` x the highest perception threshold over the postures (one grid for every posture, so
    the curves compare), capped at the device's maximum. Every cell firing at an amplitude is traced there (see
    the module's docstring): about a second per posture and amplitude at the quick quality. ``progress(what,
    done, total)`` hears of each posture."""
    if not 2 <= n_amplitudes <= 200:
        raise ValueError(f"n_amplitudes={n_amplitudes}; allowed: 2-200")
    if not 1.0 < max_factor <= 10.0:
        raise ValueError(f"max_factor={max_factor}; allowed: > 1 and <= 10")
    lead = stimulating_lead(program, lead)
    by_posture, perception, top = sweeps(model, program, postures, lead, chain, max_factor)
    amps = [round(float(a), 4) for a in np.linspace(top / n_amplitudes, top, n_amplitudes)]
    curves = {}
    label = f"{model.system.value.upper()} ECAP growth curves, lead {lead}"
    for i, (p, sweep) in enumerate(by_posture.items()):
        if progress:
            progress(label, i, len(by_posture))
        rec = [sweep.record(a) for a in amps]
        curves[p.value] = PostureEcap(amplitudes_ma=amps, ecap_uv=[r.ecap_uv for r in rec],
                                      latency_ms_per_amplitude=[r.latency_ms for r in rec],
                                      ecap_threshold_ma=sweep.threshold_ma(), perception_threshold_ma=perception[p],
                                      latency_ms=rec[-1].latency_ms,
                                      growth_slope_uv_per_ma=_slope(amps, [r.ecap_uv for r in rec], chain.detection_uv))
    if progress:
        progress(label, len(by_posture), len(by_posture))
    contacts = program.leads[lead].contacts
    rec, ref = recording_contacts(contacts, chain)
    return EcapGrowth(system=model.system, lead=lead, contacts=contacts_label(contacts), recording_contact=rec,
                      reference="case" if ref is None else f"contact {ref}", chain=chain, postures=curves)


def _slope(amps: list[float], ecap: list[float], detection_uv: float) -> float | None:
    """Least-squares slope (uV/mA) of the detected part of a growth curve (None: fewer than two points)."""
    a, e = np.asarray(amps), np.asarray(ecap)
    ok = e >= detection_uv
    if ok.sum() < 2:
        return None
    return round(float(np.polyfit(a[ok], e[ok], 1)[0]), 3)

