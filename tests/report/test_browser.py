"""The report renders in a real headless Chromium, offline, with every picture decoded.

Needs Chromium (Debian: ``apt-get install chromium``); skipped with the reason where it is absent.
Set ``HEADKIT_CHROMIUM`` to the browser's path to use another binary, and
``HEADKIT_REPORT_SCREENSHOT`` to a file path to keep the full-page screenshot for a look.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.browser

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Test-only probe appended to a COPY of the page (the report itself has no script): once every
# resource has loaded, list each <img> with its decoded width (0 = broken) for --dump-dom.
PROBE = """<script>
window.addEventListener("load", () => {
  const rows = Array.from(document.images).map(
    (im) => im.getAttribute("src") + "=" + (im.complete ? im.naturalWidth : 0));
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = rows.join(";");
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def browser() -> str:
    """Path of the Chromium binary; resolved before the (costly) report fixture, or skip."""
    found = os.environ.get("HEADKIT_CHROMIUM") or next(
        (p for p in map(shutil.which, CANDIDATES) if p), None
    )
    if not found:
        pytest.skip(
            "Chromium is not installed (looked for HEADKIT_CHROMIUM and "
            f"{', '.join(CANDIDATES)} on PATH); on Debian: apt-get install chromium"
        )
    return found


def _run(browser: str, profile: Path, *args: str) -> str:
    command = [
        browser,
        "--headless",
        "--no-sandbox",  # running as root in CI containers
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_report_loads_in_headless_chromium_with_every_image(browser, report_run, tmp_path):
    index = report_run.report
    # probe copy next to the real page, so relative image paths resolve the same way; one extra
    # broken <img> proves the probe can tell a missing picture from a drawn one
    probe = index.with_name("probe.html")
    text = index.read_text(encoding="utf-8")
    broken = '<img src="missing-on-purpose.png" alt="">'
    probe.write_text(text.replace("</body>", broken + PROBE + "</body>"), encoding="utf-8")
    try:
        dom = _run(browser, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom",
                   probe.as_uri())  # fmt: skip
    finally:
        probe.unlink()
    found = re.search(r'<pre id="probe">([^<]*)</pre>', dom)
    assert found, "the page did not finish loading in Chromium"
    widths = dict(item.rsplit("=", 1) for item in found.group(1).split(";"))
    assert widths.pop("missing-on-purpose.png") == "0"
    assert set(widths) == set(report_run.pictures)
    for name, width in widths.items():
        with Image.open(index.parent / name) as im:
            assert int(width) == im.width, f"{name} did not render"
    assert "<h1>headkit report" in dom and "Out-of-distribution" in dom


def test_report_screenshot_is_a_full_page(browser, report_run, tmp_path):
    shot = tmp_path / "report.png"
    _run(browser, tmp_path / "profile", "--window-size=1280,6000", f"--screenshot={shot}",
         report_run.report.as_uri())  # fmt: skip
    with Image.open(shot) as im:
        rgb = im.convert("RGB")
        assert rgb.size == (1280, 6000)
        # rows that are not plain white: the page content must reach far down (nine pictures)
        grey = rgb.convert("L").point(lambda v: 255 if v > 250 else 0)
        bbox = Image.eval(grey, lambda v: 255 - v).getbbox()
        assert bbox is not None and bbox[3] > 3000, bbox
        assert len(rgb.getcolors(maxcolors=1 << 20) or []) > 1000  # plots, not only text
    keep = os.environ.get("HEADKIT_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
