"""The report itself: figures, the HTML page from its template, and the assembly of every
section (summary.html is one self-contained file: no network, no JS)."""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path

import jinja2
import numpy as np

from kemdy.classes import CLASSES
from kemdy.errors import InputError
from kemdy.metrics import CALIBRATION_NAMES, HEADLINE, NAMES, VA_METRICS
from kemdy.report import plots
from kemdy.report.breakdowns import SHOWN, breakdowns, segment_meta
from kemdy.report.data import data_section
from kemdy.report.dimensions import layer_section, va_section
from kemdy.report.provenance import benchmarks, provenance
from kemdy.report.raters import raters_section
from kemdy.report.results import results_sections
from kemdy.report.seeds import parse_selections, seeds_section, sweeps_section
from kemdy.report.summary import (Runs, check_summary, collect_runs, parse_folds, parse_list,
                                  parse_seeds)
from kemdy.report.transfer import transfer_section
from kemdy.report.variants import variant_rows
from kemdy.spec import fingerprint, read_config

TEMPLATES = Path(__file__).parent / "templates"
DEMO_BANNER = ("DEMO on a generated KEMDy20 look-alike with small encoders built locally (text: "
               "random; audio: pre-trained a minute without labels on the look-alike's clips): "
               "these numbers say nothing about KEMDy20.")
CONFIG_META = re.compile(r'<meta name="kemdy-config" content="([0-9a-f]*)">')
INPUTS_META = re.compile(r'<meta name="kemdy-inputs" content="([0-9a-f]*)">')
PLOT_FILES = {  # plot key -> file name under --plots-dir
    "per_fold": "per_fold_f1_macro.png",
    "per_class": "per_class_f1.png",
    "confusion": "confusion.png",
    "curves": "learning_curves.png",
    "comparison": "comparison.png",
    "classes": "class_distribution.png",
    "va": "valence_arousal.png",
    "layers": "audio_layer_weights.png",
    "seeds": "per_fold_seeds.png",
    "reliability": "reliability.png",
}


def make_plots(found: Runs, results: dict, data: dict, reference: str) -> dict[str, bytes]:
    n = len(found.folds)
    present = [v for v in found.variants if v in results["pooled"]]
    # a variant short of folds says so in every plot
    name = {v: v if len(found.of(v)) == n else f"{v} ({len(found.of(v))} of {n} folds)"
            for v in found.variants}
    figs = {}
    if present:
        figs["per_fold"] = plots.per_fold(
            {name[v]: {k: s["f1_macro"] for k, s in results["per_fold"][v].items()}
             for v in present}, found.folds, "F1-macro")
        figs["per_class"] = plots.per_class_f1(
            {name[v]: {c: results["pooled"][v]["per_class"][c]["f1"] for c in CLASSES}
             for v in present}, CLASSES)
        figs["confusion"] = plots.confusion(
            {name[v]: np.asarray(results["pooled"][v]["confusion"]) for v in present}, CLASSES)
    if results["curves"]:
        figs["curves"] = plots.learning_curves({name[v]: c for v, c in results["curves"].items()})
    comps = [c for c in results["comparisons"] if c["boot"]]
    if comps:
        figs["comparison"] = plots.comparison(
            [{"variant": name[c["variant"]], **c["boot"]["f1_macro"],
              "colour": present.index(c["variant"])} for c in comps], reference)
    figs["classes"] = plots.class_distribution(data["distribution"], CLASSES)
    if results["va"]:
        figs["va"] = plots.va_scatter({name[s["variant"]]: s["points"] for s in results["va"]})
    if results["seeds"]:
        figs["seeds"] = plots.fold_seeds({name[s["variant"]]: s["per_fold"]
                                          for s in results["seeds"]}, found.folds, "F1-macro")
    if results["layers"]:
        figs["layers"] = plots.layer_weights({name[s["variant"]]: s["mean"]
                                              for s in results["layers"]})
    if results["calibration"]["rows"]:
        figs["reliability"] = plots.reliability({name[r["variant"]]: r for r in
                                                 results["calibration"]["rows"]})
    return {k: plots.png(f) for k, f in figs.items()}


def placeholder_plots(images: dict[str, bytes]) -> dict[str, bytes]:
    """Every file of PLOT_FILES, a 'no data' picture where there is nothing to plot, so the
    workflow's declared outputs always exist."""
    return {k: images[k] if k in images else plots.png(plots.empty(f"{k}: no runs to plot"))
            for k in PLOT_FILES}


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def render(context: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["f3"] = fmt
    env.filters["epoch"] = lambda e: "–" if e is None else ", ".join(
        f"{k}: {v}" for k, v in e.items()) if isinstance(e, dict) else str(e)
    env.filters["pct"] = lambda x, total: "–" if not total else f"{100 * x / total:.1f} %"
    env.filters["signed"] = lambda x: "–" if x is None or math.isnan(x) else f"{x:+.3f}"
    return env.get_template("summary.html.j2").render(**context)


def build(args) -> tuple[str, dict[str, bytes]]:
    variants, folds = parse_list(args.variants), parse_folds(args.folds)
    if args.reference not in variants:
        raise InputError("--reference", f"'{args.reference}' is not among --variants {variants}",
                         "pick the reference from the variants being reported")
    found = collect_runs(args.runs_dir, variants, folds, args.allow_missing, history=True,
                         seeds=parse_seeds(getattr(args, "seeds", None)))
    check_summary(args.summary, found)
    config = read_config(args.config_json)
    data = data_section(args.data_dir, found)
    meta = segment_meta(data["segments"])
    results = results_sections(found, args.reference, args.bootstrap, args.seed,
                               groups=meta["session"])
    results.update(breakdowns=breakdowns(found, meta), va=va_section(found),
                   layers=layer_section(found), seeds=seeds_section(found),
                   sweeps=sweeps_section(parse_selections(getattr(args, "selection", None)),
                                         found, args.allow_missing, results["notes"]))
    raters = (raters_section(args.raters, args.data_dir, found, config, results["notes"])
              if getattr(args, "raters", None) else None)  # --raters: the raters' ceiling
    transfer = (transfer_section(args.transfer, args.data_dir, found, config, folds,
                                 args.bootstrap, args.seed, results["notes"])
                if getattr(args, "transfer", None) else None)  # --transfer: the matrix
    bench = benchmarks(args.benchmarks)
    prov = provenance(config, args.config_json, found, data, bench, args.reference,
                      args.bootstrap, args.seed)
    explained = variant_rows(config, variants, args.runs_dir, folds, [])  # noted by provenance
    images = make_plots(found, results, data, args.reference)
    missing = [{"run": f"{v}/fold{k}", "files": ", ".join(f)} for (v, k), f in
               found.missing.items()]
    missing += [{"run": f"{v}/fold{k}", "files": "history.csv (its predictions are used)"}
                for v, k in found.no_history]
    missing.sort(key=lambda m: (variants.index(m["run"].split("/")[0]), m["run"]))
    context = {
        "demo_banner": DEMO_BANNER, "prov": prov, "results": results, "data": data,
        "explained": explained, "raters": raters, "transfer": transfer,
        "missing": missing, "variants": variants, "folds": folds, "n_folds": len(folds),
        "reference": args.reference, "headline_metrics": HEADLINE, "names": NAMES,
        "n_seeds": {v: len(found.seeds.get(v, [None])) for v in variants},
        "shown": SHOWN, "va_metrics": VA_METRICS, "calibration_names": CALIBRATION_NAMES,
        "classes": CLASSES, "seed": args.seed, "n_boot": args.bootstrap,
        "images": {k: base64.b64encode(v).decode("ascii") for k, v in images.items()},
        "css": (TEMPLATES / "report.css").read_text(encoding="utf-8"),
        "config_digest": fingerprint(config),
        "inputs_digest": getattr(args, "inputs_digest", ""),
    }
    return render(context), images


def digests_of(html_path) -> tuple[str | None, str | None]:
    """The fingerprints of the config, and of the config and dataset state, a report was
    rendered under (None: not one of ours, or older than the second)."""
    with open(html_path, encoding="utf-8", errors="replace") as handle:
        head = handle.read(4096)
    return tuple(m.group(1) if m else None for m in (CONFIG_META.search(head),
                                                     INPUTS_META.search(head)))
