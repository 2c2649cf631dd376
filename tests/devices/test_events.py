"""The event log: who, when, what, before/after; append-only and tamper-evident."""

from __future__ import annotations

import json

import pytest

from drgsim.devices import EventLog

from .conftest import BIPOLE


def test_every_action_is_one_event_with_who_when_what(programmed):
    dev, cp, pc = programmed
    n = len(dev.log)
    dev.advance(1.5)
    r = pc.amplitude_up(1)
    assert len(dev.log) == n + 1
    e = dev.log[-1]
    assert e is r.event or e == r.event
    assert (e.actor.role, e.actor.name, e.action, e.accepted) == ("patient", "pt-1", "step_amplitude", True)
    assert e.time == dev.now and (e.time - dev.started).total_seconds() == 5400
    assert e.params == {"steps": 1, "lead": 1}
    assert e.before == {"programs.A.leads.1.amplitude_ma": 0.8}
    assert e.after == {"programs.A.leads.1.amplitude_ma": 0.825}


def test_rejection_is_logged_with_its_reason_and_no_changes(programmed):
    dev, cp, _ = programmed
    r = cp.set_amplitude("A", 1, 0.81)
    e = dev.log[-1]
    assert not e.accepted and e.reason == r.reason and "0.8 and 0.825" in e.reason
    assert e.before == {} and e.after == {} and e.actor.role == "clinician"


def test_log_is_append_only_and_its_chain_verifies(programmed):
    dev, cp, _ = programmed
    assert isinstance(dev.log.events, tuple)
    mutators = ("remove", "pop", "clear", "insert", "__setitem__", "__delitem__")
    assert not any(hasattr(dev.log, name) for name in mutators)
    assert dev.log.verify()
    text = dev.log.to_jsonl()
    again = EventLog.from_jsonl(text)
    assert [e.digest for e in again] == [e.digest for e in dev.log]
    lines = text.splitlines()
    edited = json.loads(lines[3])
    edited["params"]["amplitude_ma"] = 0.1
    with pytest.raises(ValueError, match="broken"):
        EventLog.from_jsonl("\n".join(lines[:3] + [json.dumps(edited)] + lines[4:]))
    with pytest.raises(ValueError, match="broken"):
        EventLog.from_jsonl("\n".join(lines[:3] + lines[4:]))  # a removed event


def test_clinician_reads_the_log(programmed):
    dev, cp, _ = programmed
    cp.set_contacts("A", 2, BIPOLE)
    actions = [e.action for e in cp.event_log()]
    assert actions[0] == "create_program" and actions[-1] == "set_contacts"
    assert [e.seq for e in cp.event_log()] == list(range(len(dev.log)))
