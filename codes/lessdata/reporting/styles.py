"""How every figure draws a model or a selection method: colours, markers, line styles, rc settings.

Kept apart from the selector records (:mod:`lessdata.selection.registry`) so that registering a method needs
no
plotting decision: a method without a style here is drawn with :data:`DEFAULT_METHOD_STYLE`.  The
encoding is the same in every figure: the *model trained* sets colour and marker shape, the *selection
method* sets line style and marker fill (``docs/decisions.md``).  This module imports nothing of
lessdata, so any module may read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

# --------------------------------------------------------------------------------------------------
# Figure settings.
# --------------------------------------------------------------------------------------------------
#: Matplotlib settings of every figure: legible at a journal's column width (panels ≈ 3.4 in wide,
#: no text below 8 pt), fonts embedded as TrueType in PDFs so they stay editable.
RC: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.35,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 4.5,
    "lines.markeredgewidth": 0.9,
    "errorbar.capsize": 1.5,
    "pdf.fonttype": 42,
    "svg.fonttype": "none",
}

#: Width and height (inches) of one panel: one journal column.
PANEL_SIZE = (3.4, 2.5)
#: Resolution of the PNG files (dots per inch).
PNG_DPI = 200

#: The Okabe-Ito palette (Okabe & Ito 2008), in its published order: distinguishable with the common
#: colour-vision deficiencies.  Models and selectors take their colours from here (greys aside).
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}


def _palette(*names: str) -> tuple[str, ...]:
    """Colours of :data:`OKABE_ITO` by name, in the order given."""
    return tuple(OKABE_ITO[name] for name in names)


# --------------------------------------------------------------------------------------------------
# Models: colour and marker.
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelStyle:
    """Colour and marker of one model (the model that was *trained* and scored)."""

    label: str
    color: str
    marker: str


#: The trained models; in greyscale they stay apart by marker shape.
MODEL_STYLES: dict[str, ModelStyle] = {
    "xgb": ModelStyle("XGB", OKABE_ITO["blue"], "o"),
    "rf": ModelStyle("RF", OKABE_ITO["vermillion"], "s"),
    "alignn": ModelStyle("ALIGNN", OKABE_ITO["bluish green"], "^"),
}
#: The model(s) whose output an AL strategy ranks by (``selector`` of its rows), for figure (f) where
#: curves are coloured by what produced the scores: a single model keeps its colour (XGB-U's IBUG wraps
#: an XGB), the XGB-vs-RF committee and the model-free random strategy get their own.
SCORER_STYLES: dict[str, ModelStyle] = {
    "xgb_ibug": ModelStyle("XGB IBUG", MODEL_STYLES["xgb"].color, MODEL_STYLES["xgb"].marker),
    "xgb+rf": ModelStyle("XGB vs RF", OKABE_ITO["black"], "D"),
    "": ModelStyle("no model", "#8C8C8C", "o"),
}
#: Colours and markers of models in neither table, picked by a hash of the name.
FALLBACK_MODEL_COLORS = _palette("reddish purple", "orange", "sky blue", "black")
FALLBACK_MODEL_MARKERS = ("D", "v", "P", "X")


def model_style(model: str) -> ModelStyle:
    """Style of a model; unknown models get a stable fallback colour and marker (hash of the name)."""
    if model in MODEL_STYLES:
        return MODEL_STYLES[model]
    if model in SCORER_STYLES:
        return SCORER_STYLES[model]
    index = sum(map(ord, model))
    return ModelStyle(model, FALLBACK_MODEL_COLORS[index % len(FALLBACK_MODEL_COLORS)],
                      FALLBACK_MODEL_MARKERS[index % len(FALLBACK_MODEL_MARKERS)])


# --------------------------------------------------------------------------------------------------
# Selection methods: line style and marker fill.
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodStyle:
    """Line style and marker fill of one method in every figure (the model sets colour and marker).

    Attributes:
        label: the method's entry in figure legends (its name in text is the selector record's
            ``short``).
        linestyle: a matplotlib line style, e.g. ``"-"`` or a dash pattern ``(0, (4.5, 1.8))``.
        fillstyle: marker fill (``full``, ``none``, ``left`` ...), the second cue after the dashes.
        linewidth: line width in points.
        zorder: drawing order among the curves of a panel.
    """

    label: str
    linestyle: Any
    fillstyle: str
    linewidth: float = 1.2
    zorder: float = 2.0


#: Style of a method (or style key) with no entry in :data:`METHOD_STYLES`: a dash-dot pattern none of
#: the study's methods uses; its legend label is the key itself (see :func:`method_style`).
DEFAULT_METHOD_STYLE = MethodStyle("", (0, (3.0, 1.0, 1.0, 1.0)), "top", 1.2, 2.4)

#: Suffix of the style key of a pruned set evaluated with another model than its guide.
TRANSFER_SUFFIX = "_transfer"

#: Styles by method name (the ``method`` of ``scores.csv``), plus ``prune_transfer``; the dash patterns
#: are all different so that any two methods stay apart in print.
METHOD_STYLES: dict[str, MethodStyle] = {
    # The study's methods (Li et al., Nat Commun 14, 7283, 2023) and our variants.
    "random": MethodStyle("random, mean ± std", "-", "full", 1.2, 2.0),
    "prune": MethodStyle("pruned, same model", (0, (4.5, 1.8)), "none", 1.2, 3.0),
    "prune" + TRANSFER_SUFFIX: MethodStyle("pruned, other model", (0, (1.0, 1.3)), "none", 1.3, 2.5),
    "qbc": MethodStyle("QBC", (0, (7.0, 1.6, 1.2, 1.6)), "left", 1.3, 2.6),
    "rf_u": MethodStyle("RF-U", (0, (1.2, 1.3, 1.2, 1.3, 5.5, 1.3)), "bottom", 1.3, 2.6),
    "rf_u_std": MethodStyle("RF-U (std)", (0, (9.0, 1.5, 9.0, 4.0)), "top", 1.3, 2.6),
    "xgb_u": MethodStyle("XGB-U", (0, (5.5, 1.3, 1.2, 1.3, 1.2, 1.3)), "right", 1.3, 2.6),
    "xgb_u_tuned": MethodStyle("XGB-U (tuned)", (0, (2.5, 1.2)), "full", 1.3, 2.6),
    # Beyond the study.
    "qbc_diverse": MethodStyle("QBC, diverse batch", (0, (3.0, 1.2, 1.0, 1.2)), "full", 1.5, 2.8),
    "prune_cov": MethodStyle("pruning rounds, stratified", (0, (6.0, 1.5)), "full", 1.6, 3.2),
    "kcenter": MethodStyle("k-center (label-free)", (0, (1.0, 1.0)), "full", 1.5, 2.6),
    "direct": MethodStyle("DIRECT variant (largest leaves)", (0, (2.0, 1.0, 2.0, 3.0)), "full", 1.5, 2.6),
    "direct_maml": MethodStyle("DIRECT as published (maml)", (0, (4.0, 1.0, 1.0, 1.0)), "full", 1.5, 2.6),
}


def set_method_style(key: str, style: MethodStyle) -> None:
    """Give a method (or ``<name>_transfer``) its own style; :func:`lessdata.selection.registry.register`
    calls
    this for a record registered with ``style=``."""
    METHOD_STYLES[key] = style


def method_style(key: str) -> MethodStyle:
    """Style of a method or of its transfer variant; :data:`DEFAULT_METHOD_STYLE`, labelled with the
    key, for one without an entry (a user's method, or rows of a method not registered here)."""
    if key in METHOD_STYLES:
        return METHOD_STYLES[key]
    return replace(DEFAULT_METHOD_STYLE, label=key)


def style_keys(method_names: Iterable[str]) -> list[str]:
    """Style keys in legend order: each method, followed by its transfer variant if that has a style."""
    keys = []
    for name in method_names:
        keys.append(name)
        if name + TRANSFER_SUFFIX in METHOD_STYLES:
            keys.append(name + TRANSFER_SUFFIX)
    return keys


# --------------------------------------------------------------------------------------------------
# Figure (g), selectors compared: the study's methods grey, ours coloured.
# --------------------------------------------------------------------------------------------------
#: Colours of the selectors beyond the study in figure (g), by slot in the registry.
SELECTOR_COLORS = _palette("vermillion", "blue", "bluish green", "reddish purple", "orange", "sky blue",
                           "black")
#: Grey levels of the study's methods in figure (g).
STUDY_GREYS = ("0.25", "0.45", "0.6", "0.7", "0.8")
