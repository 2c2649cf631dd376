"""`drgsim atlas ...` and `drgsim plan`: the body atlas, pain maps and DRG target planning.

Registered in the main CLI as ``app.add_typer(atlas_app, name="atlas")`` and
``app.command("plan")(plan)``. Every command has ``--json``; bad input prints a message naming the
flag, the value and the allowed values (close matches for region ids) to stderr, with --json also
{"error": msg} to stdout, and exits with status 2.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from drgsim.anatomy.atlas import load_atlas
from drgsim.anatomy.bodymap import draw_body_map
from drgsim.anatomy.candidate import ClinicalHistory, Contraindication, Diagnosis, PsychExclusion, assess_candidate
from drgsim.anatomy.painmap import PainMap, PainMapError, parse_pain
from drgsim.anatomy.planning import COVERAGE_GOAL, MAX_LEADS, plan_targets
from drgsim.clierrors import fail
from drgsim.errors import validation_message

atlas_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="The body atlas: regions, dermatomes and the body map of a pain map.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
PAIN_HELP = "Pain map, region:NRS pairs, e.g. left_sole:8,left_heel:7."

# ClinicalHistory field -> the flag that sets it, so that errors name what the user typed.
HISTORY_FLAGS = {"diagnosis": "--diagnosis", "neuropathic": "--neuropathic", "pain_duration_months":
                 "--duration-months", "failed_drug_classes": "--drug-classes", "failed_injections": "--injections",
                 "failed_therapy": "--therapy", "psych_screened": "--psych-screened", "bdi_ii": "--bdi-ii",
                 "psych_exclusions": "--psych-exclusion", "contraindications": "--contraindication"}


def _pain(text: str, as_json: bool) -> PainMap:
    try:
        return parse_pain(text)
    except PainMapError as err:
        fail(f"--pain={text!r}: {err}", as_json)


def _choice(flag: str, value: str, enum: type[StrEnum], as_json: bool) -> StrEnum:
    try:
        return enum(value)
    except ValueError:
        fail(f"{flag}={value!r}: allowed values are {', '.join(enum)}", as_json)


@atlas_app.command("list")
def list_regions(as_json: JsonFlag = False) -> None:
    """Every body region with its side, view and dermatome weights."""
    regions = [{"id": r.id, "name": r.name, "side": r.side, "view": r.view, "group": r.group,
                "dermatomes": r.dermatomes, "primary_dermatome": r.primary_dermatome}
               for r in load_atlas().regions]
    if as_json:
        print(json.dumps({"regions": regions}, indent=2))
        return
    table = Table(title="body atlas")
    for col in ("id", "side", "view", "dermatomes"):
        table.add_column(col)
    for r in regions:
        table.add_row(r["id"], r["side"], r["view"], ", ".join(f"{d} {w:g}" for d, w in r["dermatomes"].items()))
    Console().print(table)


@atlas_app.command("show")
def show(
    pain: Annotated[Optional[str], typer.Option(help=PAIN_HELP)] = None,
    out: Annotated[Path, typer.Option(help="PNG file to write.")] = Path("body_map.png"),
    as_json: JsonFlag = False,
) -> None:
    """Draw the front and back body map with the pain coloured by NRS, as a PNG."""
    pain_map = _pain(pain, as_json) if pain is not None else None
    if out.suffix.lower() != ".png":
        fail(f"--out={str(out)!r}: allowed: a path ending in .png", as_json)
    if not out.parent.is_dir():
        fail(f"--out={str(out)!r}: folder {str(out.parent)!r} does not exist", as_json)
    path = draw_body_map(pain_map, out)
    if as_json:
        print(json.dumps({"path": str(path)}))
    else:
        Console().print(f"wrote {path}")


def plan(
    pain: Annotated[str, typer.Option(help=PAIN_HELP)],
    max_leads: Annotated[int, typer.Option(help=f"Most DRG leads to recommend (1-{MAX_LEADS}).")] = MAX_LEADS,
    coverage_goal: Annotated[float, typer.Option(help="Share of the pain the leads should carry, (0, 1].")] = (
        COVERAGE_GOAL),
    diagnosis: Annotated[Optional[str], typer.Option(help=f"Candidate check: {', '.join(Diagnosis)}.")] = None,
    neuropathic: Annotated[Optional[bool], typer.Option("--neuropathic/--not-neuropathic",
                                                        help="Candidate check: neuropathic pain.")] = None,
    duration_months: Annotated[Optional[float], typer.Option(help="Candidate check: months of pain.")] = None,
    drug_classes: Annotated[Optional[int], typer.Option(help="Candidate check: drug classes failed.")] = None,
    injections: Annotated[Optional[bool], typer.Option("--injections/--no-injections",
                                                       help="Candidate check: injections failed.")] = None,
    therapy: Annotated[Optional[bool], typer.Option("--therapy/--no-therapy",
                                                    help="Candidate check: therapy failed.")] = None,
    psych_screened: Annotated[Optional[bool], typer.Option("--psych-screened/--no-psych-screened",
                                                           help="Candidate check: screening done.")] = None,
    bdi_ii: Annotated[Optional[int], typer.Option(help="Candidate check: BDI-II score (0-63).")] = None,
    psych_exclusion: Annotated[Optional[list[str]], typer.Option(
        help=f"Candidate check, repeatable: {', '.join(PsychExclusion)}.")] = None,
    contraindication: Annotated[Optional[list[str]], typer.Option(
        help=f"Candidate check, repeatable: {', '.join(Contraindication)}.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ranked DRG targets (level, side) for a pain map, with reasons; with any candidate flag, the candidate check."""
    pain_map = _pain(pain, as_json)
    if not 1 <= max_leads <= MAX_LEADS:
        fail(f"--max-leads={max_leads}: allowed 1 to {MAX_LEADS} (leads per DRG IPG)", as_json)
    if not 0 < coverage_goal <= 1:
        fail(f"--coverage-goal={coverage_goal}: allowed > 0 and <= 1", as_json)
    try:
        result = plan_targets(pain_map, max_leads=max_leads, coverage_goal=coverage_goal)
    except PainMapError as err:
        fail(f"--pain={pain!r}: {err}", as_json)

    given = {"diagnosis": diagnosis and _choice("--diagnosis", diagnosis, Diagnosis, as_json),
             "neuropathic": neuropathic, "pain_duration_months": duration_months, "failed_drug_classes": drug_classes,
             "failed_injections": injections, "failed_therapy": therapy, "psych_screened": psych_screened,
             "bdi_ii": bdi_ii,
             "psych_exclusions": psych_exclusion and [_choice("--psych-exclusion", v, PsychExclusion, as_json)
                                                      for v in psych_exclusion],
             "contraindications": contraindication and [_choice("--contraindication", v, Contraindication, as_json)
                                                        for v in contraindication]}
    given = {k: v for k, v in given.items() if v is not None and v != []}
    assessment = None
    if given:
        try:
            history = ClinicalHistory(**given)
        except ValidationError as err:
            fail(validation_message(err, lambda loc: HISTORY_FLAGS[str(loc[0])]), as_json)
        assessment = assess_candidate(history, pain_map)

    if as_json:
        report = result.model_dump(mode="json")
        report["candidate"] = assessment.model_dump(mode="json") if assessment else None
        print(json.dumps(report, indent=2))
        return
    console = Console()
    table = Table(title=f"DRG targets for {pain_map.to_text()}")
    for col in ("rank", "level", "side", "score", "regions", "recommended"):
        table.add_column(col)
    chosen = {(r.level, r.side) for r in result.recommended}
    for t in result.targets:
        table.add_row(str(t.rank), t.level, t.side, f"{t.score:.2f}", ", ".join(t.regions),
                      "yes" if (t.level, t.side) in chosen else "")
    console.print(table)
    for t in result.targets:
        for reason in t.reasons:
            console.print(f"{t.side} {t.level}: {escape(reason)}", highlight=False)
    for reason in result.reasons:
        console.print(f"- {escape(reason)}", highlight=False)
    if assessment:
        verdict = "eligible" if assessment.eligible else "not eligible"
        console.print(f"candidate: {verdict}")
        for c in assessment.criteria:
            console.print(f"  {'met    ' if c.met else 'not met'}  {c.criterion}: {escape(c.detail)}", highlight=False)
        for note in assessment.notes:
            console.print(f"  note: {escape(note)}", highlight=False)


def patient(
    seed: Annotated[Optional[int], typer.Option(help="Draw a virtual patient with this seed (default: the "
                                                     "embedded default patient).")] = None,
    pain: Annotated[Optional[str], typer.Option(help=PAIN_HELP + " Default: the default patient's.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the patient JSON here (for --patient FILE).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """A virtual patient as JSON: the default one or one drawn from the population spreads."""
    from drgsim.anatomy.patient import default_patient, generate_patient

    if seed is not None and not 0 <= seed < 2**63:
        fail(f"--seed={seed}: allowed: 0 <= seed < 2**63", as_json)
    pain_map = _pain(pain, as_json) if pain is not None else None
    p = default_patient() if seed is None else generate_patient(seed, pain_map=pain_map)
    if pain_map is not None:
        p = p.model_copy(update={"pain_map": pain_map})
    text = p.model_dump_json(indent=1)
    if out is not None:
        out.write_text(text)
    if as_json:
        print(text)
    else:
        table = Table(title=f"patient {p.id}", show_header=False)
        table.add_row("content hash", p.content_hash()[:16])
        table.add_row("pain", p.pain_map.to_text())
        table.add_row("dCSF (mm)", ", ".join(f"{k}: {v:.2f}" for k, v in p.dcsf_mm.items()))
        table.add_row("cord offset (mm)", f"{p.cord_offset_mm:.2f}")
        table.add_row("file", str(out) if out else "-")
        Console().print(table)
