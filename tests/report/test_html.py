"""The HTML companion: self-contained, autoescaped, thumbnails embedded, written atomically."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from support.runs import HOSTILE, RED_SLICE, history, judge

from qa_gate.report import render_html, write_html
from qa_gate.report.html import THUMBNAIL_SIZE, thumbnail_uri
from qa_gate.report.view import MAX_FLIP_ROWS, MAX_SLICE_ROWS, report_view
from qa_gate.verdict.checks import Verdict

PNG_PREFIX = "data:image/png;base64,"


class Page(HTMLParser):
    """Start tags, their attributes, and the text of a page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def count(self, tag: str) -> int:
        return sum(name == tag for name, _ in self.tags)

    def attrs(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


@pytest.fixture(scope="module")
def regressed() -> Verdict:
    return dataclasses.replace(judge(slices=(RED_SLICE,)), changes=("This PR changes the baseline b.json.",),
                               history=history([0.70, 0.71, 0.72]))


def expected_rows(verdict: Verdict) -> int:
    """Header plus data rows of the checks, slices (moved, and all of them when folded), most-regressed and
    flipped-samples tables."""
    suite = report_view(verdict).suites[0]
    folded = suite.all_slices if suite.compared and len(suite.all_slices) > len(suite.slices) else ()
    tables = [suite.checks, suite.slices, folded, suite.samples, suite.flips]
    assert len(suite.slices) <= MAX_SLICE_ROWS and len(suite.flips) <= MAX_FLIP_ROWS
    return sum(1 + len(rows) for rows in tables if rows)


def png_image(path: Path, size: tuple[int, int], mode: str = "RGB") -> Path:
    Image.new(mode, size, "red" if mode != "P" else 3).save(path, format="PNG")
    return path


def decode(uri: str) -> Image.Image:
    assert uri.startswith(PNG_PREFIX)
    data = base64.b64decode(uri[len(PNG_PREFIX):], validate=True)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_page_structure_and_content(regressed: Verdict) -> None:
    html = render_html(regressed)
    page = Page(html)
    assert html.startswith("<!DOCTYPE html>")
    assert page.count("tr") == expected_rows(regressed)
    assert page.count("table") == 3  # checks, slices, most regressed samples: clipscore has no per-sample flips
    assert page.count("script") == 0 and page.count("link") == 0 and page.count("iframe") == 0
    text = " ".join(page.text)
    assert "mm-gate: ❌ FAILED — 3 of 4 checks failed" in text
    assert "This PR changes the baseline b.json." in text
    assert "clipscore [colour=red]" in text and "max_drop 0.02 (significant)" in text
    est = next(c.estimate for c in regressed.checks if c.rule.kind == "max_drop" and c.slice is None)
    assert est is not None
    assert f"{est.drop:.4f} [{est.low:.4f}, {est.high:.4f}] @95%" in text
    assert "−0.2750 [−0.3000, −0.2500]" in text
    assert "Samples that flipped" not in text and "Fingerprints and environment" in text


def test_banner_and_changes_come_first(regressed: Verdict) -> None:
    page = Page(render_html(regressed))
    names = [name for name, _ in page.tags]
    body = names.index("body")
    assert names[body + 1:body + 3] == ["header", "h1"]
    assert page.attrs("header")[0]["class"] == "banner fail"
    assert page.attrs("section")[0]["class"] == "changes"
    assert "banner pass" in render_html(judge(candidate=[0.8] * 6))


def test_self_contained(regressed: Verdict, tmp_path: Path) -> None:
    images = {("shapes", "s0"): png_image(tmp_path / "s0.png", (64, 64))}
    html = render_html(regressed, images)
    page = Page(html)
    assert all((a.get("src") or "").startswith("data:image/png;base64,") for a in page.attrs("img"))
    assert not any("href" in attrs for _, attrs in page.tags)
    assert "url(" not in html and "@import" not in html
    assert "default-src 'none'" in html


def test_hostile_captions_stay_inert() -> None:
    verdict = judge(texts=[HOSTILE] * 6)
    verdict = dataclasses.replace(verdict, changes=(HOSTILE,), notes=(HOSTILE,))
    html = render_html(verdict)
    page = Page(html)
    assert page.count("script") == 0
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert page.count("tr") == expected_rows(verdict)
    captions = [t for t in page.text if "alert(1)" in t]
    assert captions and all(len(t) <= 1000 for t in captions)
    assert all("\n" not in t and "<script>alert(1)</script>" in t for t in captions)
    assert max(len(line) for line in html.splitlines()) < 20_000


def test_thumbnails_are_embedded_and_small(regressed: Verdict, tmp_path: Path) -> None:
    images = {("shapes", "s0"): png_image(tmp_path / "wide.png", (400, 200)),
              ("shapes", "s1"): png_image(tmp_path / "alpha.png", (50, 300), "RGBA")}
    page = Page(render_html(regressed, images))
    uris = [a["src"] or "" for a in page.attrs("img")]
    # s0 and s1 are among the most regressed samples, each shown once.
    assert len(uris) == 2
    sizes = sorted({decode(uri).size for uri in uris})
    assert sizes == [(21, 128), (THUMBNAIL_SIZE, 64)]
    assert all(decode(uri).mode == "RGB" for uri in uris)


def test_missing_or_unreadable_image_gives_a_placeholder(regressed: Verdict, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    images = {("shapes", "s0"): tmp_path / "missing.png", ("shapes", "s1"): broken,
              ("shapes", "s2"): png_image(tmp_path / "ok.png", (10, 10))}
    html = render_html(regressed, images)
    page = Page(html)
    assert len(page.attrs("img")) == 1  # s2, among the most regressed samples only
    placeholders = [a for a in page.attrs("span") if a.get("class") == "noimg"]
    assert len(placeholders) == len(report_view(regressed).suites[0].samples) - 1


def test_thumbnail_uri_never_raises(tmp_path: Path) -> None:
    assert thumbnail_uri(None) is None
    assert thumbnail_uri(tmp_path / "absent.png") is None
    assert thumbnail_uri(tmp_path) is None  # a folder
    (tmp_path / "text.png").write_text("hello", encoding="utf-8")
    assert thumbnail_uri(tmp_path / "text.png") is None
    palette = png_image(tmp_path / "palette.png", (300, 300), "P")
    assert decode(thumbnail_uri(palette) or "").size == (128, 128)
    Image.new("L", (20, 10)).save(tmp_path / "grey.jpg", format="JPEG")
    assert decode(thumbnail_uri(str(tmp_path / "grey.jpg")) or "").size == (20, 10)  # never upscaled


def test_no_image_column_without_images(regressed: Verdict) -> None:
    page = Page(render_html(regressed))
    assert page.count("img") == 0 and "Image" not in page.text and "no image" not in page.text


def test_trend_is_an_inline_svg_polyline(regressed: Verdict) -> None:
    page = Page(render_html(regressed))
    lines = page.attrs("polyline")
    assert len(lines) == 1 and page.count("svg") == 1
    points = (lines[0]["points"] or "").split()
    assert len(points) == 4 and page.count("circle") == 4
    assert "this run: " + f"{regressed.run.suites[0].metrics['clipscore'].value:.4f}" in page.text
    assert Page(render_html(dataclasses.replace(regressed, history=()))).count("svg") == 0


def test_write_html_is_atomic(regressed: Verdict, tmp_path: Path) -> None:
    target = tmp_path / "deep" / "report.html"
    assert write_html(regressed, target) == target
    assert target.read_text(encoding="utf-8") == render_html(regressed)
    os.chmod(target, 0o600)
    write_html(regressed, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]
    assert (target.stat().st_mode & 0o777) == 0o600


def test_write_html_leaves_the_old_file_on_failure(regressed: Verdict, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_html(regressed, target)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
