"""The `drgsim atlas` and `drgsim plan` CLI contract, on a small app registering them as the main CLI will."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from drgsim.anatomy.atlas import region_ids
from drgsim.anatomy.cli import atlas_app, patient, plan
from drgsim.anatomy.patient import Patient, default_patient, load_patient

main = typer.Typer()
main.add_typer(atlas_app, name="atlas")
main.command("plan")(plan)
main.command("patient")(patient)
runner = CliRunner()


def run(*args):
    return runner.invoke(main, list(args))


def test_atlas_list_json_gives_every_region():
    res = run("atlas", "list", "--json")
    assert res.exit_code == 0, res.output
    regions = json.loads(res.stdout)["regions"]
    assert [r["id"] for r in regions] == region_ids()
    sole = next(r for r in regions if r["id"] == "left_sole")
    assert sole["side"] == "left" and sole["view"] == "back" and sole["dermatomes"]["S1"] > 0.5


def test_atlas_list_table():
    res = run("atlas", "list")
    assert res.exit_code == 0 and "left_knee_anterior" in res.stdout


def test_plan_contract():
    res = run("plan", "--pain", "left_sole:8,left_heel:7", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    first, second = out["targets"][:2]
    assert (first["level"], first["side"], second["level"]) == ("S1", "left", "L5")
    assert first["score"] > second["score"] > 0
    assert set(first["regions"]) == {"left_sole", "left_heel"}
    assert first["reasons"] and out["reasons"] and out["candidate"] is None


def test_plan_with_candidate_flags():
    res = run("plan", "--pain", "left_sole:8", "--diagnosis", "crps_i", "--neuropathic", "--duration-months", "12",
              "--drug-classes", "2", "--therapy", "--psych-screened", "--bdi-ii", "12", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["candidate"]["eligible"] is True
    res = run("plan", "--pain", "left_sole:8", "--duration-months", "3", "--contraindication", "infection", "--json")
    unmet = {c["criterion"] for c in json.loads(res.stdout)["candidate"]["criteria"] if not c["met"]}
    assert {"duration", "contraindications"} <= unmet


def test_plan_human_output():
    res = run("plan", "--pain", "left_groin:6", "--duration-months", "12")
    assert res.exit_code == 0, res.output
    assert "L1" in res.stdout and "candidate: not eligible" in res.stdout


@pytest.mark.parametrize("args,fragments", [
    (["--pain", "left_sol:8"], ["--pain", "left_sol", "left_sole"]),
    (["--pain", "left_sole:11"], ["--pain", "left_sole", "11", "0 to 10"]),
    (["--pain", "left_sole:0"], ["--pain", "NRS 0"]),
    (["--pain", "left_sole:5", "--max-leads", "6"], ["--max-leads=6", "1 to 4"]),
    (["--pain", "left_sole:5", "--diagnosis", "crps"], ["--diagnosis='crps'", "crps_i"]),
    (["--pain", "left_sole:5", "--psych-exclusion", "anxiety"], ["--psych-exclusion='anxiety'", "psychosis"]),
    (["--pain", "left_sole:5", "--bdi-ii", "70"], ["--bdi-ii=70", "63"]),
])
def test_plan_bad_input_exits_2_with_a_json_error(args, fragments):
    res = run("plan", *args, "--json")
    assert res.exit_code == 2
    error = json.loads(res.stdout)["error"]
    for fragment in fragments:
        assert fragment in error


def test_atlas_show_writes_a_png(tmp_path):
    out = tmp_path / "map.png"
    res = run("atlas", "show", "--pain", "left_sole:8,left_heel:7", "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"path": str(out)}
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args,fragment", [(["--pain", "left_heal:3"], "left_heel"),
                                            (["--out", "map.jpg"], "--out='map.jpg'")])
def test_atlas_show_bad_input(args, fragment):
    res = run("atlas", "show", *args, "--json")
    assert res.exit_code == 2 and fragment in json.loads(res.stdout)["error"]


def test_patient_files_round_trip(tmp_path):
    """The default patient and a seeded one, written for --patient FILE, read back identical."""
    res = run("patient", "--json")
    assert res.exit_code == 0, res.output
    assert Patient.model_validate_json(res.stdout).content_hash() == default_patient().content_hash()
    path = tmp_path / "vp.json"
    res = run("patient", "--seed", "7", "--pain", "left_knee_anterior:6", "--out", str(path))
    assert res.exit_code == 0, res.output
    vp = load_patient(str(path))
    assert vp.seed == 7 and vp.pain_map.nrs == {"left_knee_anterior": 6}
    assert vp.content_hash() != default_patient().content_hash()
    assert load_patient("default") == default_patient()


@pytest.mark.parametrize("args,message", [(["--seed", "-1"], "--seed=-1: allowed: 0 <= seed < 2**63"),
                                          (["--pain", "bogus:3"], "unknown body region 'bogus'")])
def test_bad_patient_flags_exit_2(args, message):
    res = run("patient", *args, "--json")
    assert res.exit_code == 2
    assert message in json.loads(res.stdout)["error"]


def test_missing_patient_file_is_named():
    with pytest.raises(ValueError, match="patient='/nope.json': no such file"):
        load_patient("/nope.json")
