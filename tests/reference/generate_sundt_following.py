"""Reference for drgsim's train runs: Sundt et al. 2015's own C-fibre DRG neuron in NEURON (ModelDB 187473).

Usage: ``python generate_sundt_following.py MODS_DIR > sundt_following.json`` where MODS_DIR holds ModelDB
187473's ``mods`` folder (https://modeldb.science/187473; nahh, borgkdr, iM, cal and SK), compiled with
``nrnivmodl``. The cell is that of the model's Figure5d.hoc (soma 25 um; stem 75 x 1.4 um; T pieces 100 um of
0.8 and 0.4 um; axons 5000 um; 100 segments per section; Na 0.04 (soma 0.02), Kdr 0.04 S/cm2, E_K -90 mV,
Rm 10 kohm cm2, Ra 100 ohm cm; e_pas set so that every segment rests at -60 mV, as the model's init() does) at
35 C, dt 25 us. Configurations: Na + Kdr; with the M current (0.0004 S/cm2, shifted -5 mV) in the T pieces,
stem and soma (Figure 5d); with the soma's L-type calcium (0.00025 S/cm2) and SK (0.001 S/cm2, pool 500 ms) of
Figure8c.hoc. A train of 21 pulses of 0.2 nA for 1 ms at peri(0.2), from 10 ms; the spike times at
central(0.8) (APCount, -30 mV) are written per frequency.
"""

from __future__ import annotations

import json
import sys

import numpy as np

CONFIGS = {"na_kdr": ({}, (40.0, 100.0, 110.0, 120.0, 140.0)),
           "kcnq": ({"km": 0.0004}, (30.0, 40.0, 45.0, 50.0, 70.0)),
           "slow_kca": ({"cal": 0.00025, "sk": 0.001}, (4.0, 5.0, 6.0, 8.0, 10.0, 15.0))}


def build(h, km=0.0, cal=0.0, sk=0.0):
    secs = {}
    for name, length, diam in (("peri", 5000, .8), ("tjperi", 100, .8), ("tjcentral", 100, .4),
                               ("central", 5000, .4), ("stem", 75, 1.4), ("soma", 25, 25)):
        s = h.Section(name=name)
        s.L, s.diam, s.nseg = length, diam, 1 if name == "soma" else 100
        secs[name] = s
    secs["tjperi"].connect(secs["peri"](1))
    secs["stem"].connect(secs["tjperi"](1))
    secs["soma"].connect(secs["stem"](1))
    secs["tjcentral"].connect(secs["tjperi"](1))
    secs["central"].connect(secs["tjcentral"](1))
    for s in secs.values():
        s.insert("nahh")
        s.gnabar_nahh, s.mshift_nahh, s.hshift_nahh = .04, -6, 6
        s.insert("borgkdr")
        s.gkdrbar_borgkdr, s.ek = .04, -90
        s.insert("pas")
        s.g_pas, s.Ra, s.cm = 1e-4, 100, 1
    secs["soma"].gnabar_nahh = .02
    if km:
        for n in ("tjperi", "tjcentral", "stem", "soma"):
            secs[n].insert("iM")
            secs[n].vshift_iM, secs[n].gkbar_iM = -5, km
    if cal or sk:
        soma = secs["soma"]
        soma.insert("cal")
        soma.gcalbar_cal = cal
        soma.insert("SK")
        soma.gskbar_SK, soma.sstau_SK = sk, 500
    h.finitialize(-60)
    h.fcurrent()
    for s in secs.values():
        for seg in s:
            seg.e_pas = seg.v + (seg.ina + seg.ik) / seg.g_pas
    return secs


def central_spikes(h, secs, freq):
    onsets = 10.0 + 1e3 / freq * np.arange(21)
    stim = h.IClamp(secs["peri"](0.2))
    stim.delay, stim.dur = 0, 1e9
    tv, av = h.Vector(), h.Vector()
    for o in onsets:
        tv.append(o, o + 1.0)
        av.append(0.2, 0.0)
    av.play(stim._ref_amp, tv, 0)
    apc = h.APCount(secs["central"](0.8))
    apc.thresh = -30
    times = h.Vector()
    apc.record(times)
    h.dt = 0.025
    h.finitialize(-60)
    h.continuerun(onsets[-1] + 60.0)
    return [float(t) for t in times]


def main(mods: str) -> dict:
    import neuron
    from neuron import h

    neuron.load_mechanisms(mods)
    h.load_file("stdrun.hoc")
    h.celsius = 35
    out = {"source": "ModelDB 187473 (Sundt, Gamper & Jaffe 2015) run in NEURON " + neuron.__version__,
           "onsets": "10 ms + k x 1000/f ms, k = 0..20", "configs": {}}
    for name, (cfg, freqs) in CONFIGS.items():
        out["configs"][name] = {"parameters": cfg, "central_spikes_ms": {}}
        for f in freqs:
            secs = build(h, **cfg)
            out["configs"][name]["central_spikes_ms"][str(f)] = central_spikes(h, secs, f)
            del secs
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1]), indent=1))
