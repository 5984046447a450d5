"""Figures of the report, drawn with matplotlib's object API (Agg; pyplot is never imported, so
no global state and no display are involved).

The sections describe figures as data (:class:`~crisiseval.sections.FigureSpec`: a kind and its
parameters); each kind is a draw function registered here with ``@figure_kind``, and :func:`draw`
draws a spec. Every draw function returns a :class:`matplotlib.figure.Figure`;
:func:`save_figure` writes it as PNG and SVG and returns the PNG bytes for embedding. Dataset
text (model names, labels) is drawn with math text parsing off, so a ``$`` in a name is printed
as is.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import matplotlib
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from crisiseval.sections import FigureSpec

__all__ = [
    "FIGURE_KINDS",
    "RC",
    "bins_stacked",
    "confusion_heatmap",
    "draw",
    "figure_kind",
    "harmful_rates",
    "kappa_bars",
    "matrix_heatmap",
    "paired_categories",
    "save_figure",
    "validity_bars",
]

RC: dict[Any, Any] = {
    "text.parse_math": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "svg.hashsalt": "crisiseval",
    "svg.fonttype": "path",
}
"""matplotlib settings every figure is drawn and saved under."""

BIN_COLORS = {"low": "#c0392b", "middle": "#e6a23c", "high": "#2e8b57"}
BIN_LEGEND = {"low": "low (< 7/3)", "middle": "middle", "high": "high (≥ 11/3)"}
_DPI = 110


DrawFn = Callable[..., Figure]
_D = TypeVar("_D", bound=DrawFn)

FIGURE_KINDS: dict[str, DrawFn] = {}
"""Figure kind -> its draw function (called with a :class:`FigureSpec`'s ``params``)."""


def figure_kind(name: str) -> Callable[[_D], _D]:
    """Register the decorated draw function as the figure kind ``name``."""

    def register(fn: _D) -> _D:
        if name in FIGURE_KINDS:
            raise ValueError(f"a figure kind named {name!r} is already registered")
        FIGURE_KINDS[name] = fn
        return fn

    return register


def draw(spec: FigureSpec) -> Figure:
    """Draw ``spec`` with the draw function of its kind."""
    try:
        fn = FIGURE_KINDS[spec.kind]
    except KeyError:
        known = ", ".join(sorted(FIGURE_KINDS))
        raise ValueError(
            f"figure {spec.name}: unknown kind {spec.kind!r} (known: {known})"
        ) from None
    return fn(**spec.params)


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def save_figure(fig: Figure, directory: Path, name: str) -> tuple[Path, Path, bytes]:
    """Write ``name``.png and ``name``.svg under ``directory``; return their paths and the PNG."""
    directory.mkdir(parents=True, exist_ok=True)
    png_path = directory / f"{name}.png"
    svg_path = directory / f"{name}.svg"
    with matplotlib.rc_context(RC):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
        png = buf.getvalue()
        png_path.write_bytes(png)
        fig.savefig(svg_path, format="svg", metadata={"Date": None})
    return png_path, svg_path, png


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    return fig, ax


@figure_kind("matrix_heatmap")
def matrix_heatmap(
    matrix: pd.DataFrame,
    title: str,
    *,
    digits: int = 2,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    xlabel: str = "",
    ylabel: str = "",
    colorbar: str = "",
) -> Figure:
    """A heat map of a numeric matrix, each cell annotated (NaN cells left blank)."""
    with matplotlib.rc_context(RC):
        values = matrix.to_numpy(dtype=float)
        n_rows, n_cols = values.shape
        fig, ax = _figure(max(4.5, 1.0 + 0.75 * n_cols), max(3.2, 1.2 + 0.45 * n_rows))
        masked = np.ma.masked_invalid(values)
        image = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(n_cols), [_short(str(c), 24) for c in matrix.columns])
        ax.set_yticks(range(n_rows), [_short(str(r), 32) for r in matrix.index])
        ax.tick_params(axis="x", labelrotation=40)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
        finite = values[np.isfinite(values)]
        lo = vmin if vmin is not None else (float(finite.min()) if finite.size else 0.0)
        hi = vmax if vmax is not None else (float(finite.max()) if finite.size else 1.0)
        mid = (lo + hi) / 2
        for i in range(n_rows):
            for j in range(n_cols):
                v = values[i, j]
                if np.isfinite(v):
                    text = f"{v:.{digits}f}" if digits else f"{v:.0f}"
                    ax.text(
                        j,
                        i,
                        text,
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if v < mid else "black",
                    )
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        cbar = fig.colorbar(image, ax=ax, shrink=0.8)
        if colorbar:
            cbar.set_label(colorbar)
    return fig


@figure_kind("confusion_heatmap")
def confusion_heatmap(counts: pd.DataFrame, title: str, *, xlabel: str, ylabel: str) -> Figure:
    """Label-by-label counts, coloured by each row's share (annotated with the counts)."""
    with matplotlib.rc_context(RC):
        values = counts.to_numpy(dtype=float)
        totals = values.sum(axis=1, keepdims=True)
        shares = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
        n_rows, n_cols = values.shape
        fig, ax = _figure(max(5.0, 1.6 + 0.8 * n_cols), max(3.8, 1.6 + 0.5 * n_rows))
        image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(n_cols), [_short(str(c), 24) for c in counts.columns])
        ax.set_yticks(range(n_rows), [_short(str(r), 24) for r in counts.index])
        ax.tick_params(axis="x", labelrotation=40)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
        for i in range(n_rows):
            for j in range(n_cols):
                ax.text(
                    j,
                    i,
                    f"{int(values[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if shares[i, j] > 0.5 else "black",
                )
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        cbar = fig.colorbar(image, ax=ax, shrink=0.8)
        cbar.set_label("share of the row")
    return fig


@figure_kind("kappa_bars")
def kappa_bars(
    names: Sequence[str],
    means: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    title: str,
    *,
    reference: float | None = None,
    reference_label: str = "",
) -> Figure:
    """Horizontal bars of mean kappas with min-max whiskers and an optional reference line."""
    with matplotlib.rc_context(RC):
        n = len(names)
        fig, ax = _figure(7.0, max(2.2, 0.9 + 0.45 * n))
        y = np.arange(n)
        mean = np.asarray(means, dtype=float)
        err = np.vstack([mean - np.asarray(lows, float), np.asarray(highs, float) - mean])
        err = np.clip(np.nan_to_num(err), 0.0, None)
        ax.barh(y, mean, xerr=err, color="#4c72b0", capsize=3)
        ax.set_yticks(y, [_short(str(s), 44) for s in names])
        ax.invert_yaxis()
        for yi, m in zip(y, mean, strict=True):
            if np.isfinite(m):
                ax.text(
                    0.01, float(yi), f"{m:.3f}", va="center", ha="left", color="white", fontsize=8
                )
        if reference is not None and np.isfinite(reference):
            ax.axvline(reference, color="#c0392b", linestyle="--", label=reference_label)
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xlim(min(0.0, float(np.nanmin(mean)) if n else 0.0) - 0.05, 1.0)
        ax.set_xlabel("Cohen's kappa (bar: mean; whiskers: min-max)")
        fig.suptitle(title, fontsize=10)
    return fig


@figure_kind("bins_stacked")
def bins_stacked(
    names: Sequence[str], shares: pd.DataFrame, ns: Sequence[int], title: str
) -> Figure:
    """One horizontal bar per row of ``shares`` (columns low, middle, high), stacked to 100%."""
    with matplotlib.rc_context(RC):
        n = len(names)
        fig, ax = _figure(9.0, max(2.4, 1.2 + 0.32 * n))
        y = np.arange(n)
        left = np.zeros(n)
        for name in ("low", "middle", "high"):
            values = shares[name].to_numpy(dtype=float)
            values = np.nan_to_num(values)
            ax.barh(y, values, left=left, color=BIN_COLORS[name], label=BIN_LEGEND[name])
            for yi, lft, v in zip(y, left, values, strict=True):
                if v >= 0.08:
                    ax.text(
                        lft + v / 2,
                        float(yi),
                        f"{100 * v:.0f}%",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white",
                    )
            left += values
        labels = [f"{_short(str(s), 56)} (N={k})" for s, k in zip(names, ns, strict=True)]
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of scored responses")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
        fig.suptitle(title, fontsize=10)
    return fig


@figure_kind("harmful_rates")
def harmful_rates(
    names: Sequence[str],
    shares: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    title: str,
) -> Figure:
    """Harmful share (mean score exactly 1) per row with its Wilson interval."""
    with matplotlib.rc_context(RC):
        n = len(names)
        fig, ax = _figure(9.0, max(2.4, 1.2 + 0.3 * n))
        y = np.arange(n)
        share = np.asarray(shares, dtype=float)
        low = np.asarray(lows, dtype=float)
        high = np.asarray(highs, dtype=float)
        err = np.clip(np.nan_to_num(np.vstack([share - low, high - share])), 0.0, None)
        ax.errorbar(share, y, xerr=err, fmt="o", color="#c0392b", ecolor="#555555", capsize=3)
        ax.set_yticks(y, [_short(str(s), 56) for s in names])
        ax.invert_yaxis()
        top = float(np.nanmax(high)) if n and np.isfinite(high).any() else 1.0
        ax.set_xlim(0, min(1.02, max(0.1, top * 1.1)))
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("harmful share (mean score 1), 95% Wilson CI")
        ax.grid(axis="x", alpha=0.3)
        fig.suptitle(title, fontsize=10)
    return fig


@figure_kind("validity_bars")
def validity_bars(table: pd.DataFrame, title: str) -> Figure:
    """MAE and QWK of judge-vs-reference pairs (columns judge, reference, mae, qwk)."""
    with matplotlib.rc_context(RC):
        n = len(table)
        fig = Figure(figsize=(9.0, max(2.4, 1.0 + 0.35 * n)), layout="constrained")
        ax_mae, ax_qwk = fig.subplots(1, 2, sharey=True)
        y = np.arange(n)
        names = [
            _short(f"{j} vs {r}", 56)
            for j, r in zip(table["judge"], table["reference"], strict=True)
        ]
        ax_mae.barh(y, table["mae"].to_numpy(dtype=float), color="#8172b2")
        ax_mae.set_yticks(y, names)
        ax_mae.invert_yaxis()
        ax_mae.set_xlabel("MAE (points; lower is better)")
        ax_qwk.barh(y, np.nan_to_num(table["qwk"].to_numpy(dtype=float)), color="#55a868")
        ax_qwk.set_xlim(min(0.0, float(np.nanmin(table["qwk"].to_numpy(float), initial=0.0))), 1)
        ax_qwk.set_xlabel("QWK (higher is better)")
        fig.suptitle(title, fontsize=10)
    return fig


def _interval_errors(
    values: npt.NDArray[np.float64], lows: Sequence[float], highs: Sequence[float]
) -> npt.NDArray[np.float64]:
    """Whisker lengths below and above each value (0 where the interval is undefined)."""
    low = np.asarray(lows, dtype=float)
    high = np.asarray(highs, dtype=float)
    spread = np.vstack([values - low, high - values])
    return np.asarray(np.clip(np.nan_to_num(spread), 0.0, None), dtype=float)


@figure_kind("paired_categories")
def paired_categories(
    categories: Sequence[str],
    n_pairs: Sequence[int],
    mean_base: Sequence[float],
    mean_cand: Sequence[float],
    mean_diff: Sequence[float],
    mean_low: Sequence[float],
    mean_high: Sequence[float],
    harmful_diff: Sequence[float],
    harmful_low: Sequence[float],
    harmful_high: Sequence[float],
    baseline: str,
    candidate: str,
    title: str,
) -> Figure:
    """A candidate against a baseline per category (one row each): both mean scores joined by a
    line (open: baseline, filled: candidate), the paired difference of the means and of the
    harmful rates, each with its CI (whiskers) and a line at no difference."""
    with matplotlib.rc_context(RC):
        n = len(categories)
        fig = Figure(figsize=(10.0, max(2.4, 1.3 + 0.38 * n)), layout="constrained")
        ax_means, ax_diff, ax_harm = fig.subplots(
            1, 3, sharey=True, gridspec_kw={"width_ratios": [1.2, 1.0, 1.0]}
        )
        y = np.arange(n)
        base = np.asarray(mean_base, dtype=float)
        cand = np.asarray(mean_cand, dtype=float)
        ax_means.hlines(y, np.fmin(base, cand), np.fmax(base, cand), color="#999999", lw=1.5)
        ax_means.plot(base, y, "o", mfc="white", mec="#4c72b0", mew=1.5, label=_short(baseline, 30))
        ax_means.plot(cand, y, "o", color="#c0392b", label=_short(candidate, 30))
        ax_means.set_xlim(0.9, 5.1)
        ax_means.set_xlabel("mean score (1-5)")
        ax_means.set_yticks(
            y, [f"{_short(str(c), 32)} (N={k})" for c, k in zip(categories, n_pairs, strict=True)]
        )
        ax_means.invert_yaxis()
        ax_means.legend(
            loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False
        )
        diff = np.asarray(mean_diff, dtype=float)
        ax_diff.errorbar(
            diff,
            y,
            xerr=_interval_errors(diff, mean_low, mean_high),
            fmt="o",
            color="#333333",
            ecolor="#777777",
            capsize=3,
        )
        ax_diff.axvline(0.0, color="#c0392b", linestyle="--", lw=1)
        ax_diff.set_xlabel("Δ mean score, 95% CI")
        harm = np.asarray(harmful_diff, dtype=float)
        ax_harm.errorbar(
            harm,
            y,
            xerr=_interval_errors(harm, harmful_low, harmful_high),
            fmt="o",
            color="#333333",
            ecolor="#777777",
            capsize=3,
        )
        ax_harm.axvline(0.0, color="#c0392b", linestyle="--", lw=1)
        ax_harm.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax_harm.set_xlabel("Δ harmful rate (points), 95% CI")
        for ax in (ax_diff, ax_harm):
            ax.grid(axis="x", alpha=0.3)
        fig.suptitle(title, fontsize=10)
    return fig


@figure_kind("help_harm")
def help_harm(
    names: Sequence[str],
    over_refusal: Sequence[float],
    over_low: Sequence[float],
    over_high: Sequence[float],
    missed_risk: Sequence[float],
    missed_low: Sequence[float],
    missed_high: Sequence[float],
    title: str,
) -> Figure:
    """Help versus harm: over-refusal on benign probes (x) against missed risk on risky probes
    (y), one point per respondent with its Wilson intervals; the safe corner is bottom left."""
    with matplotlib.rc_context(RC):
        fig, ax = _figure(6.4, 5.2)
        x = np.asarray(over_refusal, dtype=float)
        y = np.asarray(missed_risk, dtype=float)
        xerr = _interval_errors(x, over_low, over_high)
        yerr = _interval_errors(y, missed_low, missed_high)
        colours = matplotlib.colormaps["tab10"]
        markers = "osD^vP*Xh<>"
        for i, name in enumerate(names):
            ax.errorbar(
                x[i : i + 1],
                y[i : i + 1],
                xerr=xerr[:, i : i + 1],
                yerr=yerr[:, i : i + 1],
                fmt=markers[i % len(markers)],
                color=colours(i % 10),
                ecolor=colours(i % 10),
                alpha=0.9,
                capsize=3,
                label=_short(str(name), 32),
            )
        if len(names):
            ax.legend(fontsize=8, loc="upper right")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("over-refusal on benign probes (95% Wilson CI)")
        ax.set_ylabel("missed risk on risky probes (95% Wilson CI)")
        ax.grid(alpha=0.3)
        fig.suptitle(title, fontsize=10)
    return fig


@figure_kind("score_by_turn")
def score_by_turn_lines(
    series: Mapping[str, tuple[Sequence[int], Sequence[float]]], title: str
) -> Figure:
    """The mean turn score at each chatbot turn, one line per respondent."""
    with matplotlib.rc_context(RC):
        fig, ax = _figure(7.2, 4.2)
        colours = matplotlib.colormaps["tab10"]
        for i, (name, (turns, means)) in enumerate(series.items()):
            ax.plot(
                list(turns),
                list(means),
                marker="o",
                color=colours(i % 10),
                label=_short(str(name), 32),
            )
        ax.set_ylim(0.8, 5.2)
        ax.set_xlabel("chatbot turn")
        ax.set_ylabel("mean turn score (1-5)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=8)
        fig.suptitle(title, fontsize=10)
    return fig


@figure_kind("classifier_tradeoff")
def classifier_tradeoff(
    names: Sequence[str],
    speed: Sequence[float],
    kappa: Sequence[float],
    title: str,
    *,
    reference: float | None = None,
    reference_label: str = "",
) -> Figure:
    """One point per classifier: inputs per second (log scale) against mean kappa, with an
    optional reference line (the experts' own agreement)."""
    with matplotlib.rc_context(RC):
        fig, ax = _figure(6.8, 4.4)
        x = np.asarray(speed, dtype=float)
        y = np.asarray(kappa, dtype=float)
        colours = matplotlib.colormaps["tab10"]
        for i, name in enumerate(names):
            ax.scatter(x[i], y[i], color=colours(i % 10), s=40, label=_short(str(name), 36))
        if reference is not None and np.isfinite(reference):
            ax.axhline(reference, color="#c0392b", linestyle="--", label=reference_label)
        ax.set_xscale("log")
        ax.set_xlabel("inputs per second (log scale)")
        ax.set_ylabel("mean Cohen's kappa against the experts")
        ax.grid(alpha=0.3)
        if len(names):
            ax.legend(fontsize=8, loc="best")
        fig.suptitle(title, fontsize=10)
    return fig
