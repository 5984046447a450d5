"""The Markdown twin of the HTML report (same tables, figures linked as files).

Dataset text is HTML-escaped here too (``<`` becomes ``&lt;``), since Markdown renderers pass
raw HTML through, and Markdown metacharacters are backslash-escaped (no link, image or code span
can come from data); in table cells line breaks become spaces.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from crisiseval.report._wording import APPENDIX_TITLE, CONTENT_WARNING, PROBLEMS_POINTER
from crisiseval.sections import GalleryEntry, Table, Transcript

__all__ = ["md_table", "md_text", "render_markdown"]


_MD_SPECIAL = re.compile(r"([\\`*_\[\]~])")
_BULLET = re.compile(r"^(\s*)([-+#])", re.MULTILINE)
_NUMBERED = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)


def md_text(text: str) -> str:
    """Escape text for Markdown prose: HTML special characters, and every Markdown
    metacharacter with a backslash, so dataset text can form no link, image, code span or
    emphasis (an image link would fetch from the network when the report is viewed)."""
    escaped = _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))
    escaped = _BULLET.sub(r"\1\\\2", escaped)  # no list item or heading from data
    return _NUMBERED.sub(r"\1\\\2", escaped)


def _cell(text: str) -> str:
    # A cell never starts a line: only the inline escapes apply (4.514 stays 4.514).
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False)).replace("|", "\\|")


def md_table(table: Table) -> str:
    headers = table.headers
    lines = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "| " + " | ".join("---:" if num else "---" for num in table.numeric) + " |",
    ]
    for row in table.rows:
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)


def _quote(text: str) -> str:
    return "\n".join("> " + md_text(line) if line.strip() else ">" for line in text.splitlines())


def _gallery(entries: Sequence[GalleryEntry]) -> list[str]:
    out = [
        "> **Content warning:** the examples below quote messages about suicide, self-harm, "
        "violence and substance use, and responses that handle them badly.",
        "",
    ]
    label = None
    for e in entries:
        if e.label != label:
            label = e.label
            out += [f"### {md_text(e.label)}", ""]
        out.append(
            f"**#{e.rank}** · score {e.score_text} · respondent {md_text(e.respondent)} "
            f"run {e.response_run} · item {md_text(e.item_id)}"
        )
        out.append("")
        for i, turn in enumerate(e.turns, 1):
            out += [f"*Input, turn {i}:*", "", _quote(turn) or ">", ""]
        out += ["*Response:*", "", _quote(e.text) or ">", ""]
        out += ["*Judge's explanation:*", "", _quote(e.explanation or "(none)"), ""]
    return out


def _transcripts(transcripts: Sequence[Transcript]) -> list[str]:
    out = [
        "> **Content warning:** the conversations below are about suicide, self-harm, violence "
        "and substance use, and some are handled badly.",
        "",
    ]
    for c in transcripts:
        out += [f"#### {md_text(c.title)}", "", f"*{md_text(c.meta)}*", ""]
        for t in c.turns:
            who = "Person" if t.role == "user" else f"Chatbot turn {t.number}"
            flags = f" [{md_text(', '.join(t.flags))}]" if t.flags else ""
            out += [f"*{who}{flags}:*", "", _quote(t.text) or ">", ""]
        out += ["*Judge:*", "", _quote(c.verdict) or ">", ""]
    return out


def _appendix(ov: Any) -> list[str]:
    lines = [f"## {md_text(APPENDIX_TITLE)}", ""]
    lines.append(" · ".join(f"**{n}** {name}" for name, n in ov.counts))
    lines.append("")
    if ov.samples:
        lines.append(
            "Samples: " + ", ".join(f"{md_text(n)} ({k} items)" for n, k in ov.samples) + "."
        )
        lines.append("")
    if ov.problems:
        lines.append("**Unusable records (kept and counted, not dropped):**")
        lines.append("")
        lines += [f"- {md_text(p)}" for p in ov.problems]
    else:
        lines.append("No unparsed, failed or pending records.")
    lines.append("")
    lines += [f"### {md_text(ov.status.title)}", "", md_table(ov.status), ""]
    lines.append(
        f"CSV: `tables/{ov.status.name}.csv`"
        + (f" · *{md_text(ov.status.note)}*" if ov.status.note else "")
    )
    return lines


def render_markdown(
    *,
    title: str,
    overview: Any,
    sections: Sequence[Mapping[str, Any]],
    skipped: Sequence[tuple[str, str]],
    notice: str | None = None,
    content_warning: bool = False,
) -> str:
    """The report as Markdown: the sections in order (the verdict first), then the appendix of
    what the run store holds."""
    ov = overview
    lines = [f"# {md_text(title)}", ""]
    if notice:
        lines += [f"**{md_text(notice)}**", ""]
    if content_warning:
        lines += [f"> **Content warning:** {md_text(CONTENT_WARNING)}", ""]
    lines.append(
        f"Generated {ov.generated_at} by crisiseval {ov.version} · store "
        f"{md_text(ov.store)}" + (f" (created {ov.created_at})" if ov.created_at else "")
    )
    lines.append("")
    if ov.problems:
        lines += [f"*{md_text(PROBLEMS_POINTER)}*", ""]
    if skipped:
        lines.append("**Sections skipped for lack of data:**")
        lines.append("")
        lines += [f"- {md_text(name)}: {md_text(why)}" for name, why in skipped]
        lines.append("")
    for s in sections:
        lines += [f"## {md_text(s['title'])}", ""]
        if s["intro"]:
            lines += [md_text(s["intro"]), ""]
        if s.get("summary"):
            lines += [f"- {md_text(sentence)}" for sentence in s["summary"]]
            lines.append("")
        for note in s["notes"]:
            lines.append(f"- *{md_text(note)}*")
        if s["notes"]:
            lines.append("")
        if s["key"] == "gallery":
            lines += _gallery(s["gallery"])
            continue
        for t in s["tables"]:
            lines += [f"### {md_text(t.title)}", "", md_table(t), ""]
            lines.append(
                f"CSV: `tables/{t.name}.csv`" + (f" · *{md_text(t.note)}*" if t.note else "")
            )
            lines.append("")
        for f in s["figures"]:
            lines += [f"![{md_text(f['title'])}](figures/{f['name']}.png)", ""]
            caption = f"*{md_text(f['title'])}*" + (
                f": {md_text(f['caption'])}" if f["caption"] else ""
            )
            lines += [caption + f" (SVG: `figures/{f['name']}.svg`)", ""]
        if s.get("transcripts"):
            lines += _transcripts(s["transcripts"])
    lines += _appendix(ov)
    return "\n".join(lines).rstrip() + "\n"
