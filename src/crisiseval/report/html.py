"""The self-contained HTML page: Jinja2 with autoescape on, inline CSS and JS, figures as data
URIs, and a Content-Security-Policy that allows only this page's own script (by hash) and
inline images, so even a rendering bug could not run a script from the data.

Dataset text (inputs, responses, explanations, labels, model names) is only ever passed to the
template as plain strings, which autoescape escapes; only the two constants below (our CSS and
script) are marked safe.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from crisiseval.report._wording import APPENDIX_TITLE, CONTENT_WARNING, PROBLEMS_POINTER

__all__ = ["CSS", "SCRIPT", "content_security_policy", "environment", "render_html"]

CSS = """
.notice { background: #fff3cd; border: 1px solid #c9a227; padding: .6em .8em; }
.content-warning { border-left: 4px solid var(--warn); background: #fff8f0;
  padding: .4rem .8rem; }
ul.verdict { font-size: 1.05rem; } ul.verdict li { margin: .3rem 0; }
:root { --fg: #1d2330; --muted: #5b6475; --line: #d8dce4; --bg: #ffffff; --alt: #f5f7fa;
  --warn: #a94400; --bad: #b3261e; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: var(--fg); background: var(--bg); margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem;
  line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 2px solid var(--line); padding-bottom: .2rem;
  margin-top: 2.2rem; } h3 { margin-top: 1.4rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em;
  background: var(--alt); padding: 0 .25em; border-radius: 3px; }
.meta, .note, .file { color: var(--muted); font-size: .9rem; }
.file { margin-left: .6rem; font-family: ui-monospace, Menlo, Consolas, monospace;
  font-size: .8rem; }
.counts { display: flex; flex-wrap: wrap; gap: .6rem; margin: .8rem 0; }
.count { border: 1px solid var(--line); border-radius: 6px; padding: .35rem .8rem; }
.count .n { font-weight: 700; font-size: 1.15rem; }
.problems { border-left: 4px solid var(--bad); background: #fdf1f0; padding: .5rem 1rem; }
.ok { color: #2e7d32; }
nav { margin: 1rem 0; font-size: .95rem; } nav a { color: #1f5fbf; }
.skipped { color: var(--muted); }
ul.notes { color: var(--warn); font-size: .92rem; }
figure { margin: 1.2rem 0; } figcaption { margin-bottom: .35rem; }
.fig img { max-width: 100%; height: auto; border: 1px solid var(--line); }
.fig figcaption { margin-top: .35rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .88rem; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; vertical-align: top; }
th { background: var(--alt); cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
details.warning-box { border: 2px solid var(--warn); border-radius: 6px; padding: .6rem 1rem;
  background: #fff8f0; }
details.warning-box > summary { cursor: pointer; color: var(--warn); }
.case { border-top: 1px solid var(--line); padding: .6rem 0; }
.case-meta { color: var(--muted); font-size: .9rem; margin: .2rem 0; }
.turn, .response, .explanation { margin: .4rem 0; }
.who { color: var(--muted); font-size: .8rem; display: block; }
.turn.assistant { margin-left: 1.5rem; }
.flag { border: 1px solid var(--warn); border-radius: 3px; padding: 0 .3rem; margin-left: .3rem; }
details.transcript > summary { cursor: pointer; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--alt);
  border-radius: 4px; padding: .4rem .6rem; }
.response .text { background: #fff3f2; } .explanation .text { background: #f1f4fb; }
footer { margin-top: 3rem; color: var(--muted); font-size: .85rem; }
"""

SCRIPT = """
(function () {
  "use strict";
  function key(cell) {
    var t = cell.textContent.trim().replace(/^\\[/, "").replace(/%$/, "");
    var n = parseFloat(t);
    return isNaN(n) ? null : n;
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    rows.sort(function (a, b) {
      var x = a.cells[col], y = b.cells[col], kx = key(x), ky = key(y), r;
      if (kx !== null && ky !== null) { r = kx - ky; }
      else if (kx !== null) { r = -1; }
      else if (ky !== null) { r = 1; }
      else { r = x.textContent.localeCompare(y.textContent); }
      return asc ? r : -r;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) {
      c.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () { sortBy(table, col, th); });
    });
  });
  document.documentElement.setAttribute("data-sortable", "on");
})();
"""


def _hash(source: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode()


def content_security_policy() -> str:
    """No network, no plugins; only our own script (by hash) and inline styles and images."""
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src '{_hash(SCRIPT)}'; base-uri 'none'; form-action 'none'"
    )


def environment() -> Environment:
    """The Jinja2 environment of the report: package templates, autoescape on, strict."""
    return Environment(
        loader=PackageLoader("crisiseval.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(
    *,
    title: str,
    overview: Any,
    sections: Sequence[Mapping[str, Any]],
    skipped: Sequence[tuple[str, str]],
    notice: str | None = None,
    content_warning: bool = False,
) -> str:
    """Render ``report.html.j2``: the sections in order (the verdict first), then the appendix
    of what the run store holds. Every argument is escaped by the template."""
    template = environment().get_template("report.html.j2")
    return template.render(
        title=title,
        notice=notice,
        content_warning=CONTENT_WARNING if content_warning else None,
        problems_pointer=PROBLEMS_POINTER,
        appendix_title=APPENDIX_TITLE,
        ov=overview,
        sections=sections,
        skipped=skipped,
        css=Markup(CSS),  # our constant, not data
        script=Markup(SCRIPT),  # our constant, not data; its hash is in the CSP
        csp=content_security_policy(),
    )
