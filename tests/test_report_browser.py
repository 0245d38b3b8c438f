"""The rendered report as a person sees it: headless Chromium takes a screenshot of the first
screen, kept at results/report-screenshot.png (repo root) for a person to look at.

Needs Debian's `chromium` package. If it is missing, the test installs it only when it runs
as root under CI (CI env var set); otherwise it is skipped with a message naming the package.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import render_report
import summarize
from test_render_report import FOLDS, VARIANTS, make_fixture, render_fixture, report_args

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "results" / "report-screenshot.png"
WIDTH, HEIGHT = 1400, 1000
# solid fills from scripts/templates/report.css: they can only show if the page was styled
DEMO_BANNER_FILL = (0xFF, 0xF4, 0xD6)
BEST_CELL_FILL = (0xDF, 0xF3, 0xE4)


def chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found or not (os.environ.get("CI") and hasattr(os, "geteuid") and os.geteuid() == 0):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=300, check=True,
                       capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, timeout=500,
                       check=True, capture_output=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return shutil.which("chromium")


def screenshot(browser: str, html: Path, png: Path, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
         f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={png}", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=180)


def fill_pixels(pixels: np.ndarray, rgb: tuple[int, int, int]) -> int:
    return int(np.all(pixels[:, :, :3] == rgb, axis=-1).sum())


def browser_or_skip() -> str:
    browser = chromium()
    if browser is None:
        pytest.skip("headless Chromium not found: install the Debian package `chromium` "
                    "(apt-get install -y chromium) to run the report's browser test")
    return browser


def test_report_first_screen_in_chromium(tmp_path):
    browser = browser_or_skip()
    paths = render_fixture(tmp_path / "fixture")
    shot = tmp_path / "shot.png"
    done = screenshot(browser, paths["out"], shot, tmp_path / "profile")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT)

    with Image.open(SCREENSHOT) as image:
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
        pixels = np.asarray(image.convert("RGB"))
    assert SCREENSHOT.stat().st_size > 20_000
    not_white = np.any(pixels < 245, axis=-1).mean()
    assert not_white > 0.05  # text, tables and a plot, not a blank page
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200
    # the demo banner and the headline table's best cells are on the first screen
    assert fill_pixels(pixels, DEMO_BANNER_FILL) > 5_000
    top = pixels[: HEIGHT // 2]
    assert fill_pixels(top, BEST_CELL_FILL) > 2_000


def test_the_report_never_scrolls_sideways_at_1280_px_with_60_sessions(tmp_path):
    """KEMDy19 + KEMDy20 have 60 sessions: the by-session breakdown must still fit a
    1280-px window (the page's scroll width is read by the browser itself)."""
    browser = browser_or_skip()
    p = make_fixture(tmp_path / "fixture")
    segments = pd.read_csv(p["data"] / "segments.csv")
    segments["session"] = np.arange(len(segments)) % 60 + 1
    segments.to_csv(p["data"] / "segments.csv", index=False)
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(VARIANTS), "--folds",
                    ",".join(map(str, FOLDS)), "--out", str(p["summary"])])
    render_report.main(report_args(p))
    html = p["out"].read_text(encoding="utf-8")
    assert html.count('<tr data-group="KEMDy20 Sess') == 60
    probe = p["out"].with_name("probe.html")  # the page, reporting its own scroll width
    probe.write_text(html.replace("</body>", "<script>window.addEventListener('load', () => "
                                  "document.body.setAttribute('data-scroll-width', "
                                  "document.documentElement.scrollWidth));</script></body>"),
                     encoding="utf-8")
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1280,1000", "--dump-dom", probe.resolve().as_uri()],
        capture_output=True, text=True, timeout=180)
    found = re.search(r'data-scroll-width="(\d+)"', done.stdout)
    assert found, done.stderr[-2000:]
    assert int(found.group(1)) <= 1280
