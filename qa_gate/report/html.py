"""The HTML companion of the Markdown report: one self-contained file with thumbnails.

Same data and order as the Markdown (:mod:`qa_gate.report.views`), laid out by
``templates/report.html.j2`` with jinja2's autoescape on, so every user string is
escaped on output. Images are embedded as small PNG data URIs and the page loads
nothing from elsewhere (a Content-Security-Policy forbids it); an image that is
missing or unreadable shows a placeholder instead.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import jinja2

from qa_gate.files import write_atomic
from qa_gate.report.escape import one_line
from qa_gate.report.markdown import TEMPLATES_DIR, template_context
from qa_gate.report.samples import NO_ANSWERS
from qa_gate.report.trend import SVG_HEIGHT, SVG_WIDTH, Trend
from qa_gate.report.view import report_view
from qa_gate.verdict.checks import Verdict

TEMPLATE = "report.html.j2"
THUMBNAIL_SIZE = 128
"""The longest side of an embedded thumbnail, in pixels."""
NO_IMAGES: Mapping[tuple[str, str], Path] = MappingProxyType({})


def thumbnail_uri(path: Path | str | None, size: int = THUMBNAIL_SIZE) -> str | None:
    """``path`` as a ``data:image/png;base64,…`` thumbnail of at most ``size`` px; ``None`` when unreadable.

    Never raises for a bad image: a missing file, a truncated or non-image file, a
    decompression bomb or a missing Pillow all give ``None`` (the report shows a placeholder).
    """
    if path is None:
        return None
    try:
        from PIL import Image, ImageOps

        with Image.open(Path(path)) as opened:
            opened.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
            image = ImageOps.exif_transpose(opened) or opened
            if "A" in image.getbands() or "transparency" in image.info:
                rgba = image.convert("RGBA")
                image = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                image.alpha_composite(rgba)
            image = image.convert("RGB")
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", optimize=True)
    except Exception:  # noqa: BLE001 - any failure to read an image means "no thumbnail", never a crash
        return None
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def svg_points(trend: Trend) -> str:
    """The trend's polyline ``points`` attribute: ``x,y x,y …``."""
    return " ".join(f"{x},{y}" for x, y in trend.svg_points())


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["text"] = one_line  # one line, cut to length; autoescape then escapes it
    env.filters["svg_points"] = svg_points
    return env


def render_html(verdict: Verdict, images: Mapping[tuple[str, str], Path] = NO_IMAGES,
                answers: Mapping[tuple[str, str], str] = NO_ANSWERS) -> str:
    """The verdict as one self-contained HTML page.

    ``images`` maps ``(suite name, sample id)`` to an image file on disk; the samples
    shown (most regressed, flipped) get a thumbnail beside their caption. ``answers``: the
    most common human answer of each VQA sample.
    """
    view = report_view(verdict, answers)
    shown = {(row.suite, row.sample_id) for suite in view.suites for row in (*suite.samples, *suite.flips)}
    shown |= {(row.suite, row.sample_id) for suite in view.suites for table in suite.agreement for row in table.rows}
    shown |= {(row.suite, row.sample_id) for suite in view.suites for row in suite.output_changes}
    cache: dict[Path, str | None] = {}
    thumbnails: dict[tuple[str, str], str | None] = {}
    for key in shown:
        path = images.get(key)
        if path is None:
            thumbnails[key] = None
            continue
        path = Path(path)
        if path not in cache:
            cache[path] = thumbnail_uri(path)
        thumbnails[key] = cache[path]
    return _environment().get_template(TEMPLATE).render(
        template_context(view), show_images=bool(images), thumbnails=thumbnails,
        svg_width=SVG_WIDTH, svg_height=SVG_HEIGHT, thumbnail_size=THUMBNAIL_SIZE,
    )


def write_html(verdict: Verdict, path: Path, images: Mapping[tuple[str, str], Path] = NO_IMAGES,
               answers: Mapping[tuple[str, str], str] = NO_ANSWERS) -> Path:
    """Render ``verdict`` as HTML and write it to ``path`` atomically, creating parent folders."""
    return write_atomic(path, render_html(verdict, images, answers).encode("utf-8"))
