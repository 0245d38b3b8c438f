"""render_report.py: the numbers the HTML shows are the ones scikit-learn recomputes from the
fixture predictions; banners, best marks, the bootstrap and the data section are checked.

render_fixture() also serves test_report_browser.py.
"""

from __future__ import annotations

import json
import os
import shutil
import math
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, f1_score

import render_report
import summarize
from kemdy.classes import CLASSES
from kemdy.errors import InputError
from kemdy.metrics import balanced_accuracy_of, macro_f1_of
from kemdy.release.segments import slot
from kemdy.report.bootstrap import encode, group_confusions, paired_bootstrap
from kemdy.report.render import DEMO_BANNER
from test_summarize import FOLDS, SKLEARN, VARIANTS, make_runs, true_labels

REFERENCE = "text_ce"
N_BOOT = 400
VOID = {"img", "meta", "br", "hr", "input", "link"}


def make_data(root: Path, seed: int = 0) -> Path:
    """results/data with segments, new_data, evaluators, agreement, ingest, skipped, folds."""
    rng = np.random.default_rng([seed, 99])
    labels = true_labels(seed)
    data = Path(root) / "data"
    data.mkdir(parents=True, exist_ok=True)
    seg_rows, totals = [], []
    for _, r in labels.iterrows():
        votes = [r["label"] if rng.random() < 0.6 else CLASSES[rng.integers(len(CLASSES))]
                 for _ in range(10)]
        counts = Counter(votes)
        top = max(counts.values())
        total = ";".join(c for c in CLASSES if counts.get(c) == top)
        totals.append(total)
        seg_rows.append({"segment_id": r["segment_id"], "session": r["session"],
                         "total_emotion": total,
                         **{f"{slot(j)}_emotion": v for j, v in enumerate(votes)}})
    segments = pd.DataFrame(seg_rows)
    # two unlabelled extra segments: in segments.csv, not in new_data.csv
    extra = segments.tail(2).assign(segment_id=lambda d: d["segment_id"].str[:-3] + "900")
    every = pd.concat([segments, extra])
    every.to_csv(data / "segments.csv", index=False)
    new = labels[["segment_id", "session", "label"]].assign(total_emotion=totals)
    new.to_csv(data / "new_data.csv", index=False)
    pd.DataFrame({"evaluator": [f"Eval{j + 1:02d}" for j in range(10)],
                  "n_votes": [len(labels)] * 10,
                  "accuracy_vs_majority": np.linspace(0.55, 0.8, 10),
                  "accuracy_vs_final": np.linspace(0.5, 0.75, 10),
                  "weight": np.full(10, 0.1)}).to_csv(data / "evaluators.csv", index=False)
    counts = new["label"].value_counts()
    multi = int(every["total_emotion"].str.contains(";").sum())
    (data / "agreement.json").write_text(json.dumps({
        "fleiss_kappa": 0.3123, "krippendorff_alpha": 0.3001, "strict_majority_share": 0.41,
        "n_segments": len(segments) + 2, "n_labelled": len(new), "n_ties": 0,
        "skipped_min_votes": extra["segment_id"].tolist(), "multilabel_totals": multi,
        "multilabel_resolved": multi - 1,
        "label_counts": {c: int(counts.get(c, 0)) for c in CLASSES},
        "total_counts": {c: int((every["total_emotion"] == c).sum()) for c in CLASSES},
        "method": "wawa"}))
    (data / "ingest.json").write_text(json.dumps({
        "files": 6, "segments": len(segments) + 2,
        "segment_id_prefix_fixes": {"Sess02_eval.csv": 40, "Sess05_eval.csv": 40},
        "disqust_fixes": 17, "skipped": {"missing_wav": 1}}))
    pd.DataFrame({"segment_id": ["Sess03_script01_User005F_041"],
                  "file": ["wav/Session03/Sess03_script01_User005F_041.wav"],
                  "reason": ["missing_wav"]}).to_csv(data / "skipped.csv", index=False)
    labels[["segment_id", "fold", "session"]].to_csv(data / "folds.csv", index=False)
    return data


def make_config(kind: str = "synthetic") -> dict:
    return {
        "dataset": {"kind": kind, "root": "results/lookalike/KEMDy20_v1_1"},
        "synthetic": {"seed": 7}, "folds": {"seed": 0, "n_folds": len(FOLDS)},
        "encoders": {"text": "results/encoders/text", "audio": "results/encoders/audio"},
        "train": {"seed": 42, "epochs": 6},
        "variants": {"text_ce": {"modality": "text", "loss": "ce"},
                     "text_soft_bce": {"modality": "text", "loss": "soft_bce"},
                     "text_two_stage": {"modality": "text", "loss": "soft_bce",
                                        "two_stage": True}},
        "report": {"reference": REFERENCE, "bootstrap": N_BOOT, "seed": 0},
    }


def make_benchmarks(root: Path) -> Path:
    bench = Path(root) / "benchmarks"
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for i, (job, s) in enumerate([("ingest", 3.2), ("train/text_ce/fold0", 61.5),
                                  ("train/text_soft_bce/fold0", 75.25), ("aggregate", 1.1)]):
        path = bench / f"{job}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        hms = f"0:{int(s) // 60:02d}:{int(s) % 60:02d}"
        path.write_text(header + f"{s}\t{hms}\t{100 + i}\t1\t1\t1\t0\t0\t50\t{s}\n")
    return bench


def make_fixture(root: Path, kind: str = "synthetic") -> dict:
    root = Path(root)
    paths = {"runs": make_runs(root), "data": make_data(root), "bench": make_benchmarks(root),
             "config": root / "effective_config.json", "summary": root / "summary.csv",
             "out": root / "report" / "summary.html", "plots": root / "plots"}
    paths["config"].write_text(json.dumps(make_config(kind)))
    return paths


def report_args(p: dict, *extra: str, variants=tuple(VARIANTS), seed: int = 0) -> list[str]:
    return ["--runs-dir", str(p["runs"]), "--data-dir", str(p["data"]),
            "--summary", str(p["summary"]), "--config-json", str(p["config"]),
            "--benchmarks", str(p["bench"]), "--variants", ",".join(variants),
            "--folds", ",".join(map(str, FOLDS)), "--reference", REFERENCE,
            "--bootstrap", str(N_BOOT), "--seed", str(seed), "--out", str(p["out"]),
            "--plots-dir", str(p["plots"]), *extra]


def render_fixture(root: Path, kind: str = "synthetic", *extra: str) -> dict:
    """Fixture outputs -> summary.csv -> summary.html; returns the paths."""
    p = make_fixture(root, kind)
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(VARIANTS), "--folds",
                    ",".join(map(str, FOLDS)), "--out", str(p["summary"]),
                    *[e for e in extra if e == "--allow-missing"]])
    render_report.main(report_args(p, *extra))
    return p


class Elements(HTMLParser):
    """Every element as (tag, attrs, text), text being all text inside it."""

    def __init__(self, html: str):
        super().__init__()
        self.elements, self._open = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        for element in self._open:  # cells are not always separated by whitespace
            element[2] += " "
        element = [tag, dict(attrs), ""]
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for element in self._open:
            element[2] += data

    def find(self, tag=None, **attrs) -> list[tuple[str, dict, str]]:
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [(t, a, " ".join(x.split())) for t, a, x in self.elements
                if (tag is None or t == tag)
                and all(a.get(k) == v if v is not True else k in a for k, v in want.items())]

    def one(self, tag=None, **attrs):
        found = self.find(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]


def pooled(runs_dir: Path, variant: str, folds=FOLDS) -> pd.DataFrame:
    return pd.concat([pd.read_csv(runs_dir / variant / f"fold{k}" / "predictions.csv")
                      for k in folds], ignore_index=True)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    p = render_fixture(tmp_path_factory.mktemp("report"))
    html = p["out"].read_text(encoding="utf-8")
    return p, html, Elements(html)


def test_headline_cells_equal_sklearn(rendered):
    p, _, page = rendered
    for variant in VARIANTS:
        for metric, f in SKLEARN.items():
            values = []
            for k in FOLDS:
                df = pd.read_csv(p["runs"] / variant / f"fold{k}" / "predictions.csv")
                values.append(f(df["label"], df["pred"]))
            mean, std = np.mean(values), np.std(values, ddof=1)
            _, attrs, text = page.one("td", data_variant=variant, data_metric=metric,
                                      data_mean=True)
            assert float(attrs["data-mean"]) == pytest.approx(mean, abs=1e-12)
            assert float(attrs["data-std"]) == pytest.approx(std, abs=1e-12)
            assert text.startswith(f"{mean:.3f} ± {std:.3f}")
            for k, value in zip(FOLDS, values):
                _, cell, shown = page.one("td", data_variant=variant, data_fold=str(k),
                                          data_metric=metric)
                assert float(cell["data-value"]) == pytest.approx(value, abs=1e-12)
                assert shown == f"{value:.3f}"
        _, _, folds = page.one("td", data_variant=variant, data_n_folds=str(len(FOLDS)))
        assert folds == f"{len(FOLDS)} of {len(FOLDS)}"


def test_the_page_says_how_its_figures_are_computed(rendered):
    """The metrics are numpy code held equal to scikit-learn's by the tests; the page says so,
    not that scikit-learn computed them."""
    _, _, page = rendered
    text = page.one("p", id="how-figures-are-computed")[2]
    assert "follow scikit-learn's definitions" in text and "computed in numpy" in text
    assert "tests/test_metrics.py holds each equal to scikit-learn's own call" in text
    assert "with scikit-learn" not in text


def test_headline_order_puts_macro_f1_first_with_a_reason(rendered):
    _, _, page = rendered
    headers = [a["data-metric"] for t, a, _ in page.find("th", data_metric=True)]
    assert headers[0] == "f1_macro" and len(headers) == 5
    _, _, why = page.one(id="why-macro-f1")
    assert "neutral" in why and "83 %" in why
    labels = pooled(rendered[0]["runs"], REFERENCE)["label"]
    always = f1_score(labels, ["neutral"] * len(labels), average="macro", zero_division=0)
    assert page.one(id="baseline-f1-macro")[2] == f"{always:.3f}"


def test_best_mark_is_on_the_best_mean(rendered):
    p, _, page = rendered
    for metric, f in SKLEARN.items():
        means = {v: np.mean([f(d["label"], d["pred"]) for d in
                             (pd.read_csv(p["runs"] / v / f"fold{k}" / "predictions.csv")
                              for k in FOLDS)]) for v in VARIANTS}
        marked = page.find("td", data_metric=metric, data_best="true")
        assert [a["data-variant"] for _, a, _ in marked] == [max(means, key=means.get)]
        assert "★" in marked[0][2]


def test_verdict_names_winner_and_margin(rendered):
    p, _, page = rendered
    means = {v: np.mean([SKLEARN["f1_macro"](d["label"], d["pred"]) for d in
                         (pd.read_csv(p["runs"] / v / f"fold{k}" / "predictions.csv")
                          for k in FOLDS)]) for v in VARIANTS}
    winner = max(means, key=means.get)
    assert winner != REFERENCE  # the fixture plants a better variant
    _, _, text = page.one("p", id="verdict")
    assert text.startswith(f"{winner} wins on macro-F1")
    assert f"{means[winner] - means[REFERENCE]:+.3f}" in text


def test_per_class_f1_and_confusion_equal_sklearn(rendered):
    p, _, page = rendered
    for variant in VARIANTS:
        df = pooled(p["runs"], variant)
        f1 = f1_score(df["label"], df["pred"], labels=CLASSES, average=None, zero_division=0)
        for c, value in zip(CLASSES, f1):
            _, attrs, shown = page.one("td", data_variant=variant, data_class=c)
            assert float(attrs["data-value"]) == pytest.approx(value, abs=1e-12)
            assert shown == f"{value:.3f}"
        cm = confusion_matrix(df["label"], df["pred"], labels=CLASSES)
        cells = [(a["data-true"], a["data-pred"], int(a["data-count"]), text)
                 for t, a, text in page.elements
                 if t == "td" and "data-count" in a]
        start = [a.get("data-variant") for t, a, _ in page.elements
                 if t == "table" and "confusion" in a.get("class", "")].index(variant)
        mine = cells[start * 49:(start + 1) * 49]
        for i, j in np.ndindex(cm.shape):
            true, pred, count, text = mine[i * 7 + j]
            assert (true, pred, count) == (CLASSES[i], CLASSES[j], cm[i, j])
            share = 100 * cm[i, j] / cm[i].sum()
            assert text == f"{share:.1f} % ({cm[i, j]})"


def test_bootstrap_ci_contains_point_estimate(rendered):
    p, _, page = rendered
    ref = pooled(p["runs"], REFERENCE)
    for variant in VARIANTS:
        if variant == REFERENCE:
            continue
        var = pooled(p["runs"], variant).set_index("segment_id").loc[ref["segment_id"]]
        point = (f1_score(ref["label"], var["pred"], average="macro", zero_division=0)
                 - f1_score(ref["label"], ref["pred"], average="macro", zero_division=0))
        _, delta, _ = page.one("td", data_variant=variant, data_stat="boot_delta")
        assert float(delta["data-value"]) == pytest.approx(point, abs=1e-12)
        _, ci, shown = page.one("td", data_variant=variant, data_stat="boot_ci")
        lo, hi = float(ci["data-lo"]), float(ci["data-hi"])
        assert lo <= point <= hi and lo < hi
        assert shown == f"[{lo:.3f}, {hi:.3f}]"
        _, _, sentence = page.one("li", data_variant=variant)
        assert f"{point:+.3f} macro-F1, 95 % CI [{lo:.3f}, {hi:.3f}]" in sentence


def test_fast_scores_equal_sklearn():
    rng = np.random.default_rng(3)
    y = rng.choice(CLASSES, 300, p=[.5, .2, .1, .1, .05, .05, 0])  # fear never occurs
    p = np.where(rng.random(300) < 0.5, y, rng.choice(CLASSES[:5], 300))
    g = rng.integers(0, 12, 300)  # 12 sessions
    per_session = group_confusions(encode(y), encode(p), g, 12, 7)
    draws = rng.multinomial(12, np.full(12, 1 / 12), size=20)  # session resamples
    cm = (draws @ per_session).reshape(-1, 7, 7)
    for b in range(20):
        idx = np.concatenate([np.repeat(np.flatnonzero(g == s), draws[b, s]) for s in range(12)])
        yb, pb = y[idx], p[idx]
        assert macro_f1_of(cm[b]) == pytest.approx(
            f1_score(yb, pb, average="macro", zero_division=0), abs=1e-12)
        assert balanced_accuracy_of(cm[b]) == pytest.approx(
            SKLEARN["balanced_accuracy"](yb, pb), abs=1e-12)


def test_bootstrap_is_deterministic_per_seed():
    labels = true_labels(0)["label"].tolist()
    rng = np.random.default_rng(1)
    a = [x if rng.random() < .4 else "neutral" for x in labels]
    b = [x if rng.random() < .6 else "neutral" for x in labels]
    one = paired_bootstrap(labels, a, b, 300, seed=5)
    assert one == paired_bootstrap(labels, a, b, 300, seed=5)
    other = paired_bootstrap(labels, a, b, 300, seed=6)
    assert other["f1_macro"]["delta"] == one["f1_macro"]["delta"]
    assert (other["f1_macro"]["lo"], other["f1_macro"]["hi"]) != (one["f1_macro"]["lo"],
                                                                   one["f1_macro"]["hi"])
    # chunking is an implementation detail: the draws must not depend on it
    assert one == paired_bootstrap(labels, a, b, 300, seed=5, chunk=7)


def test_same_seed_renders_same_ci(rendered, tmp_path):
    p, html, _ = rendered
    again = tmp_path / "again.html"
    args = report_args(p, variants=tuple(VARIANTS))
    args[args.index("--out") + 1] = str(again)
    args[args.index("--plots-dir") + 1] = str(tmp_path / "plots")
    render_report.main(args)
    pattern = re.compile(r'data-stat="boot_ci[^"]*" data-lo="[^"]+" data-hi="[^"]+"')
    assert pattern.findall(again.read_text()) == pattern.findall(html)
    assert len(pattern.findall(html)) == 2 * (len(VARIANTS) - 1)


def test_demo_banner_and_self_contained(rendered):
    p, html, page = rendered
    _, _, banner = page.one(id="demo-banner")
    assert banner == DEMO_BANNER
    assert "<script" not in html.lower()
    style = html[html.index("<style>"):html.index("</style>")]
    assert 'th[scope="row"]' in style and "&#34;" not in style  # CSS not HTML-escaped
    assert not re.search(r'(src|href)="(https?:)?//', html)
    images = page.find("img")
    assert len(images) == 7 and all(a["src"].startswith("data:image/png;base64,")
                                    for _, a, _ in images)
    assert page.find(id="missing-banner") == []
    for name in render_report.PLOT_FILES.values():
        assert (p["plots"] / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_section_numbers(rendered):
    p, _, page = rendered
    new = pd.read_csv(p["data"] / "new_data.csv")
    segments = pd.read_csv(p["data"] / "segments.csv")
    rows = {a["data-class"]: i for i, (t, a, _) in enumerate(page.elements)
            if t == "tr" and "data-class" in a}
    for c in CLASSES:
        cells = {a["data-stat"]: text for t, a, text in page.elements[rows[c] + 1:rows[c] + 8]
                 if "data-stat" in a}
        assert int(cells["aggregated"]) == int((new["label"] == c).sum())
        single = segments["total_emotion"] == c
        assert int(cells["release"]) == int(single.sum())
    _, _, counts = page.one(id="segment-counts")
    assert f"{len(segments)} segments" in counts and f"{len(new)} labelled" in counts
    multi = segments["total_emotion"].str.contains(";").sum()
    assert multi > 1  # the fixture has ties to resolve
    assert page.one(id="multilabel-resolved")[2].startswith(f"{multi - 1} of the {multi} multi")
    assert page.one("td", data_key="skipped_min_votes")[2].startswith("2 (Sess06_script02")
    assert page.find(id="checks") == []  # the fixture's agreement.json counts are consistent
    assert page.one("td", data_key="fleiss_kappa")[2] == "0.312"
    assert "krippendorff_alpha" in {a.get("data-key") for _, a, _ in page.find("td")}
    fixes = {a["data-key"]: text for _, a, text in page.find("li", data_key=True)}
    assert fixes["segment_id_prefix_fixes"].startswith("segment_id_prefix_fixes: 80")
    assert fixes["disqust_fixes"] == "disqust_fixes: 17"
    assert page.one(id="skipped")[2] == "1 segment(s) skipped: 1 missing_wav."
    assert len(page.find("tr", data_evaluator=True)) == 10


def test_provenance(rendered):
    _, _, page = rendered
    config = page.one("details", id="effective-config")[2]
    assert config.startswith("Effective config (JSON)")
    assert json.loads(config.removeprefix("Effective config (JSON)")) == make_config()
    commit = page.one(id="git-commit")[2]
    assert commit == "unknown" or re.match(r"^[0-9a-f]{40}", commit)
    assert "scikit-learn" in page.one(id="versions")[2]
    seconds = [float(a["data-seconds"]) for _, a, _ in page.find("td", data_seconds=True)]
    assert seconds == sorted(seconds, reverse=True) and len(seconds) == 4
    for variant in VARIANTS:  # the variants table: modality, loss, two-stage, seed, device
        rows = [x for _, _, x in page.find("tr", data_variant=variant)]
        two = "yes" if variant == "text_two_stage" else "no"
        assert any(x.startswith(f"{variant} text") and x.endswith(f"{two} 42 cpu") for x in rows)


def test_missing_runs_banner_and_n_of_n(tmp_path):
    p = make_fixture(tmp_path)
    gone = p["runs"] / "text_soft_bce" / "fold1"
    (gone / "predictions.csv").unlink()
    (p["runs"] / "text_ce" / "fold2" / "history.csv").unlink()
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(VARIANTS), "--folds",
                    "0,1,2", "--out", str(p["summary"]), "--allow-missing"])
    with pytest.raises(InputError, match="text_soft_bce/fold1"):
        render_report.main(report_args(p))
    render_report.main(report_args(p, "--allow-missing"))
    page = Elements(p["out"].read_text(encoding="utf-8"))
    listed = {a["data-missing"] for _, a, _ in page.find("li", data_missing=True)}
    assert listed == {"text_soft_bce/fold1", "text_ce/fold2"}
    assert "history.csv" in page.one("li", data_missing="text_ce/fold2")[2]
    assert page.one("td", data_variant="text_soft_bce", data_n_folds="2")[2] == "2 of 3"
    assert page.one("td", data_variant="text_ce", data_n_folds="3")[2] == "3 of 3"
    assert page.one("td", data_variant="text_soft_bce", data_fold="1", data_missing="true")
    values = [SKLEARN["f1_macro"](d["label"], d["pred"]) for d in
              (pd.read_csv(p["runs"] / "text_soft_bce" / f"fold{k}" / "predictions.csv")
               for k in (0, 2))]
    _, cell, _ = page.one("td", data_variant="text_soft_bce", data_metric="f1_macro",
                          data_mean=True)
    assert float(cell["data-mean"]) == pytest.approx(np.mean(values), abs=1e-12)
    # the per-class table and the comparison say it too
    rows = [x for _, _, x in page.find("tr", data_variant="text_soft_bce")]
    assert any(x.endswith("2 of 3") for x in rows)
    assert any("(of 3 folds)" in x for x in rows)


def test_real_dataset_has_no_demo_banner(tmp_path):
    p = render_fixture(tmp_path, "kemdy20")
    page = Elements(p["out"].read_text(encoding="utf-8"))
    assert page.find(id="demo-banner") == []
    assert "DEMO" not in p["out"].read_text(encoding="utf-8")


def test_stale_summary_is_an_error(rendered, tmp_path):
    p, _, _ = rendered
    table = pd.read_csv(p["summary"])
    table.loc[(table.variant == "text_ce") & (table.metric == "accuracy"), "fold1"] += 0.05
    stale = tmp_path / "summary.csv"
    table.to_csv(stale, index=False)
    args = report_args(p)
    args[args.index("--summary") + 1] = str(stale)
    args[args.index("--out") + 1] = str(tmp_path / "never.html")
    with pytest.raises(InputError, match="stale") as err:
        render_report.main(args)
    assert str(stale) in str(err.value) and not (tmp_path / "never.html").exists()


def test_reference_must_be_a_variant(rendered, tmp_path):
    p, _, _ = rendered
    args = report_args(p, variants=("text_soft_bce", "text_two_stage"))
    with pytest.raises(InputError, match="--reference"):
        render_report.main(args)


def test_disagreeing_metrics_json_stops_the_report(tmp_path):
    p = make_fixture(tmp_path)  # the runs are read before summary.csv is looked at
    path = p["runs"] / "text_two_stage" / "fold0" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["balanced_accuracy"] = math.nan
    path.write_text(json.dumps(metrics))
    with pytest.raises(InputError) as err:
        render_report.main(report_args(p))
    assert str(path) in str(err.value)


def test_reference_without_runs_still_renders(tmp_path):
    p = make_fixture(tmp_path)
    shutil.rmtree(p["runs"] / REFERENCE)
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(VARIANTS), "--folds",
                    "0,1,2", "--out", str(p["summary"]), "--allow-missing"])
    render_report.main(report_args(p, "--allow-missing"))
    page = Elements(p["out"].read_text(encoding="utf-8"))
    assert "has no finished run" in page.one("p", id="verdict")[2]
    assert page.find("li", data_variant=True) == []  # no CI without the reference
    assert page.one("td", data_variant=REFERENCE, data_metric="f1_macro")[2] == "no runs"
    assert len(page.find("li", data_missing=True)) == len(FOLDS)
    # the workflow declares the plot folder: every file is there, a placeholder if need be
    assert sorted(f.name for f in p["plots"].iterdir()) == sorted(
        render_report.PLOT_FILES.values())


def test_inconsistent_side_files_are_flagged(tmp_path):
    p = make_fixture(tmp_path)
    path = p["runs"] / "text_ce" / "fold1" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["best_epoch"] = 1  # e.g. the last or first epoch reported instead of the best
    path.write_text(json.dumps(metrics))
    agreement = json.loads((p["data"] / "agreement.json").read_text())
    agreement["label_counts"]["fear"] += 1
    (p["data"] / "agreement.json").write_text(json.dumps(agreement))
    pd.read_csv(p["data"] / "folds.csv").iloc[1:].to_csv(p["data"] / "folds.csv", index=False)
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(VARIANTS), "--folds",
                    "0,1,2", "--out", str(p["summary"])])
    render_report.main(report_args(p))
    checks = Elements(p["out"].read_text(encoding="utf-8")).one(id="checks")[2]
    assert "text_ce/fold1: metrics.json says best epoch 1" in checks
    assert "label_counts disagree" in checks and "'fear'" in checks
    assert "text_ce/fold0: predictions.csv covers 80 segments, folds.csv puts 79" in checks


def test_warm_up_epochs_are_not_candidates_for_the_best_epoch(tmp_path):
    """A text-only warm-up epoch may score best on validation, but it is never chosen:
    history.csv's `selectable` column says so, and the check does not flag the run."""
    p = make_fixture(tmp_path)
    run = p["runs"] / "text_ce" / "fold1"
    history = pd.read_csv(run / "history.csv")
    history["selectable"] = history["epoch"] > 1
    history.loc[history["epoch"] == 1, "val_f1_macro"] = 0.99  # the warm-up epoch scores best
    history.to_csv(run / "history.csv", index=False)
    best = int(history[history["selectable"]].sort_values("epoch")
               .loc[lambda h: h["val_f1_macro"].idxmax(), "epoch"])
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["best_epoch"] = best
    (run / "metrics.json").write_text(json.dumps(metrics))
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(VARIANTS), "--folds",
                    "0,1,2", "--out", str(p["summary"])])
    render_report.main(report_args(p))
    assert Elements(p["out"].read_text(encoding="utf-8")).find(id="checks") == []
    history["selectable"] = True  # without the column's word, epoch 1 would be the best
    history.to_csv(run / "history.csv", index=False)
    render_report.main(report_args(p))
    checks = Elements(p["out"].read_text(encoding="utf-8")).one(id="checks")[2]
    assert f"text_ce/fold1: metrics.json says best epoch {best}" in checks


def test_a_failed_rerun_on_other_data_or_config_moves_the_report_aside(tmp_path, capsys):
    """The report carries the fingerprint of its config and of the dataset state; after a
    failed rerun on other inputs it cannot pass for current (issue 25.4)."""
    from kemdy.report.aftermath import set_stale_report_aside

    p = make_fixture(tmp_path)
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(VARIANTS), "--folds",
                    "0,1,2", "--out", str(p["summary"])])
    render_report.main(report_args(p, "--inputs-digest", "00aa"))
    config = json.loads(p["config"].read_text())
    stale = tmp_path / "summary.stale.html"
    set_stale_report_aside(str(p["out"]), str(stale), config, "00aa")  # same inputs: kept
    assert p["out"].exists() and not stale.exists()
    set_stale_report_aside(str(p["out"]), str(stale), config, "11bb")  # same config, new data
    assert stale.exists() and not p["out"].exists()
    assert "another state of the dataset files" in capsys.readouterr().err
    os.replace(stale, p["out"])
    set_stale_report_aside(str(p["out"]), str(stale), {**config, "folds": {}}, "00aa")
    assert stale.exists() and "another config" in capsys.readouterr().err


def test_a_swept_run_without_config_json_is_noted_not_passed_over(tmp_path):
    """The report checks that each swept run is the candidate selection.csv chose by its
    config.json; a run whose config.json is missing cannot be checked, and the page's
    consistency checks say so instead of skipping the check in silence."""
    p = render_fixture(tmp_path)
    rows = []
    for k in FOLDS:
        for cand, lr, score in (("c0", 1e-3, 0.4), ("c1", 2e-3, 0.3)):
            rows.append({"fold": k, "seed": 42, "candidate": cand, "params": json.dumps({"lr": lr}),
                         "val_f1_macro": score, "selected": cand == "c0"})
    selection = tmp_path / "selection.csv"
    pd.DataFrame(rows).to_csv(selection, index=False)
    checked = p["runs"] / "text_ce" / f"fold{FOLDS[0]}" / "config.json"
    checked.write_text(json.dumps({"lr": 1e-3, "seed": 42}))
    render_report.main(report_args(p, "--selection", f"text_ce={selection}"))
    checks = Elements(p["out"].read_text(encoding="utf-8")).one(id="checks")[2]
    for k in FOLDS[1:]:
        assert (f"{p['runs'] / 'text_ce' / f'fold{k}' / 'config.json'} is missing: whether this "
                f"run is the selected candidate c0 of {selection} was not checked") in checks
    assert str(checked) not in checks
    checked.write_text(json.dumps({"lr": 2e-3, "seed": 42}))  # a present one is still checked
    with pytest.raises(InputError, match="not the selected candidate"):
        render_report.main(report_args(p, "--selection", f"text_ce={selection}"))


def test_what_each_variant_is_sits_under_the_headline(rendered):
    _, html, page = rendered
    assert html.index('id="variants-explained"') < html.index('id="per-fold"')
    rows = {a["data-variant"]: x for _, a, x in page.find("tr", data_variant=True)
            if x.split()[0] in VARIANTS and "results/encoders/text" in x}
    assert set(rows) == set(VARIANTS)
    assert rows["text_ce"].startswith("text_ce text results/encoders/text – – ce no none")


def test_variant_rows_say_what_the_spec_trains(tmp_path):
    from kemdy.report.variants import variant_rows

    config = make_config()
    config["variants"]["mm"] = {"modality": "text+audio", "loss": "soft_focal", "lr": 1e-4,
                                "target_sharpening": "peakl",
                                "lr_encoders": 1e-5, "freeze_audio": True, "va_weight": 0.5,
                                "audio_encoder": "facebook/wav2vec2-base"}
    for k, trainable in ((0, 1_234_567), (1, 1_234_567)):
        run = tmp_path / "mm" / f"fold{k}"
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps(
            {"parameters": {"trainable": trainable, "frozen": 94_000_000}}))
    notes = []
    rows = {r["variant"]: r for r in variant_rows(config, ["text_ce", "mm", "nope"], tmp_path,
                                                  [0, 1], notes)}
    assert set(rows) == {"text_ce", "mm"} and "unknown variant 'nope'" in notes[0]
    mm = rows["mm"]
    assert (mm["text_encoder"], mm["audio_encoder"]) == ("results/encoders/text",
                                                         "facebook/wav2vec2-base")
    assert mm["loss"] == "soft_focal (γ 2), targets sharpened (peakl) + 0.5 × ccc valence/arousal"
    assert mm["lr"] == "0.0001 (encoders 1e-05)" and mm["frozen"] == "audio encoder"
    assert mm["parameters"] == "1.23 M of 95.23 M"
    assert rows["text_ce"]["parameters"] == "–"  # no run says: never guessed
    assert rows["text_ce"]["frozen"] == "nothing" and rows["text_ce"]["fusion"] == "–"


def test_calibration_section_shows_every_figure_before_and_after(tmp_path):
    """Section 4b: each variant's pooled out-of-fold ECE, Brier and NLL equal a direct
    computation on predictions.csv; a calibrated variant's figures after temperature scaling
    (each fold's probabilities by its own metrics.json T), its temperatures, the per-fold
    figures of summary.csv and a reliability diagram; a stale calibration row stops it."""
    from test_summarize import calibrate, direct_calibration

    p = make_fixture(tmp_path)
    temperatures = {0: 1.7, 1: 2.2, 2: 0.8}
    calibrate(p["runs"], "text_soft_bce", temperatures)
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(VARIANTS), "--folds",
                    ",".join(map(str, FOLDS)), "--out", str(p["summary"])])
    render_report.main(report_args(p))
    html = p["out"].read_text(encoding="utf-8")
    page = Elements(html)
    assert 'id="checks"' not in html  # the consistency checks stay silent
    probs = [f"prob_{c}" for c in CLASSES]
    for variant in VARIANTS:
        want = direct_calibration(pooled(p["runs"], variant))
        for m, value in want.items():
            _, cell, shown = page.one("td", data_variant=variant, data_calibration=m,
                                      data_when="before")
            assert float(cell["data-value"]) == pytest.approx(value, abs=1e-9)
            assert shown == f"{value:.3f}"
        after = page.find("td", data_variant=variant, data_when="after")
        assert bool(after) == (variant == "text_soft_bce")
    # after: each fold scaled by its own T, then pooled
    frames = []
    for k, t in temperatures.items():
        df = pd.read_csv(p["runs"] / "text_soft_bce" / f"fold{k}" / "predictions.csv")
        z = np.log(df[probs].to_numpy()) / t
        df[probs] = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        frames.append(df)
    for m, value in direct_calibration(pd.concat(frames)).items():
        _, cell, _ = page.one("td", data_variant="text_soft_bce", data_calibration=m,
                              data_when="after")
        assert float(cell["data-value"]) == pytest.approx(value, abs=1e-9)
    _, cell, shown = page.one("td", data_variant="text_soft_bce", data_temperatures=True)
    assert [float(t) for t in cell["data-temperatures"].split()] == list(temperatures.values())
    assert shown == "fold 0: 1.700, fold 1: 2.200, fold 2: 0.800"
    summary = pd.read_csv(p["summary"]).set_index(["variant", "metric"])
    for k in FOLDS:
        for m in ("ece", "nll_calibrated", "temperature"):
            _, cell, _ = page.one("td", data_variant="text_soft_bce", data_fold=str(k),
                                  data_calibration=m)
            assert float(cell["data-value"]) == pytest.approx(
                summary.loc[("text_soft_bce", m), f"fold{k}"], abs=1e-12)
    page.one("img", id="plot-reliability")
    assert (p["plots"] / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # lower is better: these figures stay out of the headline table and its best marks
    assert not page.find("td", data_metric="ece")
    # a stale summary.csv row of a calibration figure stops the report, as a headline one does
    table = pd.read_csv(p["summary"])
    table.loc[(table.variant == "text_soft_bce") & (table.metric == "ece_calibrated"),
              "fold2"] += 0.01
    table.to_csv(p["summary"], index=False)
    with pytest.raises(InputError, match="text_soft_bce ece_calibrated fold2 .* stale"):
        render_report.main(report_args(p))


def test_calibration_section_scores_a_two_stage_variants_own_pred(tmp_path):
    """A two-stage variant's pred need not be the argmax of its prob_ columns: the section's
    ECE and its reliability bins score pred (confidence p[pred]), as summary.csv's ece does,
    so the report's consistency checks stay silent."""
    from kemdy.report.calibration import variant_row
    from kemdy.report.summary import collect_runs
    from test_summarize import as_two_stage, direct_calibration

    p = make_fixture(tmp_path)
    as_two_stage(p["runs"], "text_two_stage")
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(VARIANTS), "--folds",
                    ",".join(map(str, FOLDS)), "--out", str(p["summary"])])
    render_report.main(report_args(p))
    html = p["out"].read_text(encoding="utf-8")
    assert 'id="checks"' not in html
    df = pooled(p["runs"], "text_two_stage")
    want = direct_calibration(df)["ece"]
    _, cell, _ = Elements(html).one("td", data_variant="text_two_stage", data_calibration="ece",
                                    data_when="before")
    assert float(cell["data-value"]) == pytest.approx(want, abs=1e-12)
    row = variant_row(collect_runs(p["runs"], ["text_two_stage"], FOLDS), "text_two_stage", [])
    bins, probs = row["bins_before"], df[[f"prob_{c}" for c in CLASSES]].to_numpy()
    conf = probs[np.arange(len(df)), df["pred"].map(CLASSES.index).to_numpy()]
    assert bins["count"].sum() == len(df)
    filled = bins["count"] > 0
    assert np.sum(bins["count"][filled] * bins["confidence"][filled]) == pytest.approx(conf.sum())
    assert np.sum(bins["count"][filled] * bins["accuracy"][filled]) == pytest.approx(
        (df["pred"] == df["label"]).sum())


def test_without_a_calibrated_variant_the_section_says_so(rendered):
    _, html, page = rendered
    page.one("section", id="calibration")
    assert "No variant was trained with calibrate: temperature" in html
    assert not page.find("td", data_when="after")
