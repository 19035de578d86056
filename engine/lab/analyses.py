"""The registry of analyses: for each, the data it needs, the settings it takes, its table
function, its columns, its extra outputs and its help line.

Light (no numpy, no scipy): the CLI builds its ``analyze`` sub-commands and their ``--help`` from
it at start-up, the console its tabs and settings; the statistics modules take their defaults and
choices from :data:`SETTINGS`. Adding an analysis is one entry in :data:`ANALYSES` plus its
statistics module, whose table function takes an ``engine.analysis.frames.Analysis`` and exactly
the settings its entry names, as keyword arguments with the registry's defaults, and returns an
``engine.analysis.tables.TableResult`` (the entry's columns; its extras under their keys).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from common.errors import BadInput
from engine.measure_names import VARIANTS


@dataclass(frozen=True)
class Setting:
    """One setting of the tables: what it takes, its default, how the CLI says it."""

    name: str                        # the table functions' keyword
    kind: type                       # str, int or list (of names)
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """``value`` if the setting takes it, else a BadInput naming what it takes."""
        if self.choices and value not in self.choices:
            raise BadInput(f"{self.flag} must be one of {', '.join(self.choices)} (got {value!r})")
        if self.minimum is not None and value < self.minimum:
            raise BadInput(f"{self.flag} must be at least {self.minimum} (got {value})")
        if self.maximum is not None and value > self.maximum:
            raise BadInput(f"{self.flag} must be at most {self.maximum} (got {value})")
        return value


MEASURES_HELP = ("Measures (repeat or comma-separate; default: all; ece/jsd: the uncertainties; "
                 "successor: the successor study's 17, in its figures' order; fr, bfr, tok1: "
                 "the 15 rows of its free-recall FR, BFR, 1TFR figures). A certainty "
                 "(top1_prob, choice_top1, choice_margin) enters negated, as -NAME.")
SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("measures", list, None, MEASURES_HELP),
    Setting("variant", str, "corrected", "corrected or paper (SCIENCE.md).", choices=VARIANTS),
    Setting("scale", str, "raw", "raw, normalized, paper (SCIENCE.md §4) or successor "
            "(normalised and clipped at 1, probabilities as log-probabilities; "
            "SCIENCE-successor.md §4.2).", choices=("raw", "normalized", "paper", "successor")),
    Setting("seed", int, 0, "Seed of every random step (z = 0 ties, permutations, bootstrap "
            "resamples, the recalibration split, the probe's folds and shuffles)."),
    Setting("permutations", int, 1000, "Permutations of the test.", minimum=1),
    Setting("bins", int, 10, "ECE bins.", minimum=1),
    Setting("cdf", str, "empirical", "ECE confidence: empirical or normal CDF.",
            choices=("empirical", "normal")),
    Setting("adjust", str, "none", "Multiple-comparison adjustment (adds p_adj).",
            choices=("none", "holm", "bh")),
    # a subject's rho over fewer questions is mostly noise (often exactly +-1)
    Setting("min_subject_n", int, 20, "Leave out subjects with fewer questions (ALL is always "
            "shown; a note counts them).", minimum=1),
    Setting("target", str, "human_entropy", "What each measure is correlated with: "
            "human_entropy (of the shares, on the table's scale) or a human variable of the dataset "
            "(`datasets show` lists them; used as it is); probe also: correct (the model's "
            "own correctness, a logistic probe)."),
    Setting("pair", list, None, "Base and instruct models to pair, BASE=INSTRUCT (repeat or "
            "comma-separate; default: paired by name, the instruct model's having Instruct, "
            "Ins, it or Chat)."),
    Setting("probe", str, "ridge", "The probe: ridge (penalty by nested CV, features "
            "standardised) or ols (the successor's least squares). --target correct: logistic.",
            choices=("ridge", "ols")),
    Setting("folds", int, 10, "Cross-validation folds of the probe.", minimum=2),
    Setting("shuffles", int, 100, "Shuffled targets per layer: the probe's chance level "
            "(null_mean, null_95, p_perm; 0: none).", minimum=0),
    Setting("reference", str, None, "A released probe results file (the successor's "
            "uncertainty_alignment_10Fold_Results.parquet), shown beside the runs: its rows "
            "are marked (released)."),
    Setting("tests", int, 0, "The heatmap's Bonferroni divisor: a cell is shown where p < "
            "0.05/TESTS (0: 4 x measures x models, as the successor's figures).", minimum=0),
    Setting("bootstrap", int, 0, "Bootstrap resamples for a 95% interval of each row's "
            "statistic (alignment r, calibration rho, ECE, JSD shift) as boot_low, boot_high; "
            "seeded by --seed (0: none).", minimum=0),
    Setting("ci_method", str, "percentile", "The bootstrap interval: percentile or bca "
            "(bias-corrected and accelerated; n more evaluations).",
            choices=("percentile", "bca")),
    Setting("split", int, 50, "Percent of each run's questions the recalibration maps are "
            "fitted on (a random split seeded by --seed); the rest evaluates them.",
            minimum=1, maximum=99),
    Setting("correctness", str, "graded", "What a free-recall answer's correctness is: graded "
            "(its final grade: `alignuq grade`) or mc (the same model's multiple-choice "
            "correctness, as the released figures did: SCIENCE-successor.md §6.2 fault 4).",
            choices=("graded", "mc")),
)}


def default(name: str) -> Any:
    return SETTINGS[name].default


@dataclass(frozen=True)
class Need:
    """What a dataset must hold for an analysis (a question column with some value)."""

    column: str
    lacks: str        # "dataset 'x' has no ..."
    kind: str         # "...; alignment needs ..."
    fix: str
    or_prefix: str = ""   # or any column named with this prefix (a human variable) with a value


HUMAN = Need("human_share", "human response shares", "a survey dataset",
             "pick a dataset imported with shares")
HUMAN_DATA = Need("human_share", "human data (shares or human variables)",
                  "human shares or a human variable", "pick a dataset imported with shares, or "
                  "import one with --human-col", or_prefix="human:")
CORRECT = Need("correct", "correct answers", "a benchmark with answers",
               "pick a dataset imported with a correct column")
CORRECT_OR_HUMAN_DATA = Need("correct", "correct answers or human data",
                             "a benchmark with answers, human shares or a human variable",
                             "pick a dataset imported with a correct column, shares or "
                             "--human-col", or_prefix="human")
# the prefix names the share column itself: either part of the successor's agreement will do
ANSWERS = Need("question_id", "questions", "questions", "import a dataset")   # every dataset
CORRECT_OR_HUMAN = Need("correct", "correct answers or human response shares",
                        "a benchmark with answers or a survey dataset",
                        "pick a dataset imported with a correct column or with shares",
                        or_prefix="human_share")


@dataclass(frozen=True)
class Extra:
    """A frame a table function returns beside its table (``TableResult.extra[key]``)."""

    key: str
    label: str                       # its name in file names and provenance
    columns: tuple[str, ...]
    option: str                      # the CLI option that asks for it
    help: str
    replaces_table: bool = False     # the option is a flag showing it instead of the table;
                                     # otherwise it names a file to write it to


@dataclass(frozen=True)
class AnalysisSpec:
    name: str
    title: str                       # the console's tab
    help: str                        # one line: the CLI's help, the console's
    needs: Need
    settings: tuple[str, ...]        # names in SETTINGS, in the table function's order
    table: str                       # "module:function"
    columns: tuple[str, ...]
    extras: tuple[Extra, ...] = ()
    needs_activations: bool = False  # runs made with --capture-activations
    task: str = "score"              # the runs it reads: score (multiple choice) or generate
                                     # (free recall); frames.Analysis.for_task

    def table_function(self) -> Callable[..., Any]:
        """The table function (imported now: the statistics modules load scipy)."""
        module, _, function = self.table.partition(":")
        return getattr(import_module(module), function)

    def extra(self, key: str) -> Extra:
        return next(e for e in self.extras if e.key == key)

    def used(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The settings this table takes, from ``settings`` (the registry's default where absent)."""
        return {key: settings.get(key, default(key)) for key in self.settings}



def figure(analysis: str, cells: str, *fixed: str) -> Extra:
    """The successor's figure of a table (engine.analysis.figure), ``--wide``."""
    return Extra("wide", f"{analysis}-wide", ("measure", *fixed, "MODEL...", "wilcoxon_r",
                                               "wilcoxon_p"), "wide",
                 f"The figure instead: a row per measure, a column per model ({cells}), the "
                 "base-versus-instruct pairs' rank-biserial r of those (shown where p < "
                 "0.05/rows) and Wilcoxon p.", replaces_table=True)


ANALYSES: dict[str, AnalysisSpec] = {a.name: a for a in (
    AnalysisSpec(
        "alignment", "Alignment",
        "Pearson r (p, 95% CI), Spearman and partial r | log n of each measure with human "
        "entropy or another human variable (--target; --strata: r within each choice count).",
        HUMAN_DATA,
        ("measures", "scale", "adjust", "target", "pair", "seed", "bootstrap", "ci_method"),
        "engine.analysis.alignment:alignment_table",
        ("model", "measure", "scale", "target", "n", "r", "p", "ci_low", "ci_high",
         "spearman_rho", "spearman_p", "partial_r"),
        (Extra("strata", "alignment-strata",
               ("model", "measure", "scale", "target", "n_choices", "n", "r", "p", "ci_low",
                "ci_high"),
               "strata", "r within each choice count instead.", replaces_table=True),
         figure("alignment", "r"))),
    AnalysisSpec(
        "agreement", "Agreement",
        "Share of questions whose cloze answer is a human top answer, vs chance.",
        HUMAN, ("variant",), "engine.analysis.agreement:agreement_table",
        ("model", "n", "agreement", "chance", "z", "p_z", "p_exact")),
    AnalysisSpec(
        "kendall", "Kendall",
        "Normalised Kendall tau distance between the model's and the humans' orders.",
        HUMAN, (), "engine.analysis.kendall:kendall_table",
        ("model", "n", "mean", "std", "tied_pairs")),
    AnalysisSpec(
        "calibration", "Calibration",
        "Spearman(correct, measure) overall (subject ALL) and per subject.",
        CORRECT, ("measures", "scale", "adjust", "min_subject_n", "pair", "seed", "bootstrap",
                  "ci_method"),
        "engine.analysis.calibration:calibration_table",
        ("model", "measure", "subject", "n", "spearman_rho", "p"),
        (figure("calibration", "rho over all subjects"),)),
    AnalysisSpec(
        "ece", "ECE",
        "The paper's standardised ECE per measure and the conventional ECE of choice_top1.",
        CORRECT, ("measures", "scale", "bins", "cdf", "pair", "seed", "bootstrap", "ci_method"),
        "engine.analysis.ece:ece_table",
        ("model", "measure", "method", "bins", "n", "ece"),
        (Extra("bins", "ece-bins", ("model", "measure", "bin", "lo", "hi", "count", "conf", "acc",
                                    "acc_low", "acc_high"),
               "bins_out", "Also write every reliability bin here (acc_low, acc_high: the "
               "Clopper-Pearson 95% interval of its accuracy)."),
         figure("ece", "ECE", "method"))),
    AnalysisSpec(
        "jsd", "JSD shift",
        "JSD shift between uncertain and certain questions, with a permutation test.",
        CORRECT, ("measures", "scale", "variant", "seed", "permutations", "adjust", "pair",
                  "bootstrap", "ci_method"),
        "engine.analysis.jsd:jsd_table",
        ("model", "measure", "n_uncertain", "n_certain", "shift", "p", "permutations", "seed"),
        (Extra("null", "jsd-null", ("model", "measure", "permutation", "null"), "null_out",
               "Also write the null samples here."),
         figure("jsd", "shift"))),
    AnalysisSpec(
        "pairs", "Base vs instruct",
        "Base against instruct models: per measure, the matched-pairs rank-biserial r and "
        "Wilcoxon p of the pairs' alignment (Spearman rho with the target); significant where "
        "p < 0.05/M (the successor's column).",
        HUMAN_DATA, ("measures", "scale", "target", "pair"), "engine.analysis.pairs:pairs_table",
        ("measure", "target", "n_pairs", "r_rb", "p", "threshold", "significant"),
        (Extra("differences", "pairs-differences",
               ("base", "instruct", "measure", "target", "base_rho", "instruct_rho",
                "difference"), "differences_out", "Also write each pair's cells and their "
               "difference here."),)),
    AnalysisSpec(
        "heatmap", "Heatmap",
        "The successor's alignment heatmap (its reading, variant successor): Spearman rho with "
        "the target per model and measure, a cell shown where p < 0.05/(4 x measures x models); "
        "--wide: measures down, models across, and the base-versus-instruct column.",
        HUMAN_DATA, ("measures", "scale", "target", "pair", "tests"),
        "engine.analysis.heatmap:heatmap_table",
        ("model", "measure", "target", "n", "rho", "p", "threshold", "cell"),
        (figure("heatmap", "the shown cells", "target"),)),
    AnalysisSpec(
        "rms-ce", "RMS-CE",
        "The successor's calibration error (SCIENCE-successor.md §6.2 \"width\"): each measure "
        "as a confidence, RMS over 15 equal-width bins on [0, 1].",
        CORRECT, ("measures", "pair"), "engine.analysis.successor_calibration:rms_ce_table",
        ("model", "measure", "bins", "n", "accuracy", "rms_ce"), (figure("rms-ce", "RMS-CE"),)),
    AnalysisSpec(
        "ece-sweep", "ECE-sweep",
        "The successor's ECE-sweep (§6.2 \"sweep\"): equal-mass bins, as many as keep the "
        "accuracies non-decreasing; L2 error.",
        CORRECT, ("measures", "pair"), "engine.analysis.successor_calibration:ece_sweep_table",
        ("model", "measure", "bins", "n", "accuracy", "ece_sweep"),
        (figure("ece-sweep", "ECE-sweep"),)),
    AnalysisSpec(
        "agreement-successor", "Agreement (successor)",
        "The successor's agreement cells (§6.3): percent of cloze answers that are correct "
        "(fact_mc) or the first human top answer (human), truncated as published.",
        CORRECT_OR_HUMAN, (), "engine.analysis.successor_calibration:agreement_successor_table",
        ("model", "n_fact_mc", "fact_mc", "fact_mc_mean", "n_human", "human", "human_mean")),
    AnalysisSpec(
        "accuracy", "Accuracy",
        "Run diagnostics: accuracy (Wilson 95% CI), the letter the model favours with a "
        "chi-square test of the answered letters against the correct letters, and choice_mass "
        "(the label probabilities' sum: low = no label answered).",
        CORRECT, (), "engine.analysis.diagnostics:accuracy_table",
        ("model", "n", "accuracy", "ci_low", "ci_high", "top_letter", "top_letter_share",
         "chi2", "df", "p_letters", "mass_mean", "mass_median", "mass_below_half"),
        (Extra("subjects", "accuracy-subjects",
               ("model", "subject", "n", "n_correct", "accuracy", "ci_low", "ci_high"),
               "subjects", "Accuracy per subject (Wilson 95% CI) instead.", replaces_table=True),
         Extra("letters", "accuracy-letters",
               ("model", "letter", "answered", "correct", "answered_share", "correct_share"),
               "letters", "How often each letter was answered and is correct instead (the "
               "chi-square test's counts).", replaces_table=True))),
    AnalysisSpec(
        "brier", "Brier",
        "Brier score of the label probabilities (renormalised over the options) and the "
        "top-label Brier of choice_top1 with its binned Murphy decomposition "
        "(reliability - resolution + uncertainty).",
        CORRECT, ("bins",), "engine.analysis.scoring:brier_table",
        ("model", "n", "brier", "brier_top", "bins", "reliability", "resolution", "uncertainty",
         "within_bins")),
    AnalysisSpec(
        "auroc", "AUROC",
        "AUROC and AUPRC of each measure, read as an uncertainty, for predicting the model's "
        "errors (cloze != correct).",
        CORRECT, ("measures", "scale"), "engine.analysis.scoring:auroc_table",
        ("model", "measure", "n", "n_errors", "error_rate", "auroc", "auprc")),
    AnalysisSpec(
        "risk-coverage", "Risk-coverage",
        "Selective prediction: answer only the questions a measure is surest of; AURC and the "
        "accuracy kept at 50, 80 and 90% coverage.",
        CORRECT, ("measures", "scale"), "engine.analysis.scoring:risk_coverage_table",
        ("model", "measure", "n", "risk", "aurc", "acc_at_50", "acc_at_80", "acc_at_90"),
        (Extra("curve", "risk-coverage-curve", ("model", "measure", "kept", "coverage", "risk"),
               "curve_out", "Also write the risk-coverage curve here (one row per coverage "
               "step)."),)),
    AnalysisSpec(
        "ece-adaptive", "ECE (adaptive)",
        "ECE and maximum calibration error of choice_top1 with equal-mass (adaptive) bins, "
        "beside the equal-width ones.",
        CORRECT, ("bins",), "engine.analysis.ece:ece_adaptive_table",
        ("model", "measure", "bins", "n", "ece_adaptive", "mce_adaptive", "ece_width",
         "mce_width"),
        (Extra("bins", "ece-adaptive-bins",
               ("model", "measure", "binning", "bin", "lo", "hi", "count", "conf", "acc",
                "acc_low", "acc_high"), "adaptive_bins_out",
               "Also write every bin here, with the Clopper-Pearson 95% interval of its "
               "accuracy."),)),
    AnalysisSpec(
        "recalibrate", "Recalibration",
        "Post-hoc calibration of the label probabilities (temperature scaling, Platt, "
        "isotonic) fitted on a seeded split of the questions; ECE and Brier of the other part "
        "before and after.",
        CORRECT, ("bins", "seed", "split"), "engine.analysis.recalibrate:recalibrate_table",
        ("model", "method", "n_fit", "n_eval", "temperature", "fitted", "ece_before",
         "ece_after", "brier_before", "brier_after")),
    AnalysisSpec(
        "fr-heatmap", "FR heatmap",
        "Free recall (SCIENCE-successor.md §6.1 FR/BFR/1TFR): the heatmap of the free-recall "
        "measures with the human free-recall variables (default FR_Human_Prop_Correct and "
        "FR_Human_RT_ANS, each with its own threshold). Needs runs made with --task generate.",
        HUMAN_DATA, ("measures", "target", "pair", "tests"),
        "engine.analysis.free_recall_tables:fr_heatmap_table",
        ("model", "measure", "target", "n", "rho", "p", "threshold", "cell"),
        (figure("fr-heatmap", "the shown cells", "target"),), task="generate"),
    AnalysisSpec(
        "fr-rms-ce", "FR RMS-CE",
        "Free recall: the successor's \"width\" calibration error of each free-recall measure "
        "against the graded correctness of the answers (--correctness).",
        ANSWERS, ("measures", "correctness", "pair"),
        "engine.analysis.free_recall_tables:fr_rms_ce_table",
        ("model", "measure", "bins", "n", "accuracy", "rms_ce"),
        (figure("fr-rms-ce", "RMS-CE"),), task="generate"),
    AnalysisSpec(
        "fr-ece-sweep", "FR ECE-sweep",
        "Free recall: the successor's ECE-sweep of each free-recall measure against the graded "
        "correctness of the answers (--correctness).",
        ANSWERS, ("measures", "correctness", "pair"),
        "engine.analysis.free_recall_tables:fr_ece_sweep_table",
        ("model", "measure", "bins", "n", "accuracy", "ece_sweep"),
        (figure("fr-ece-sweep", "ECE-sweep"),), task="generate"),
    AnalysisSpec(
        "fr-agreement", "FR agreement",
        "Free recall: percent of answers graded correct (fact_fr, truncated as published, over "
        "the answers with a final grade), those pending, and the two graders' agreement and "
        "Cohen's kappa.",
        ANSWERS, (), "engine.analysis.free_recall_tables:fr_agreement_table",
        ("model", "n", "n_graded", "pending", "fact_fr", "fact_fr_mean", "n_both", "agreement",
         "kappa"), task="generate"),
    AnalysisSpec(
        "probe", "Probe",
        "Activation probes (SCIENCE-successor.md §7): per layer, the cross-validated Pearson r "
        "(R², MSE; AUROC for --target correct) of a linear read-out of the last prompt token's "
        "hidden state, against shuffled targets. Needs runs made with --capture-activations.",
        CORRECT_OR_HUMAN_DATA, ("target", "probe", "folds", "seed", "shuffles", "pair",
                                  "reference"),
        "engine.analysis.probe:probe_table",
        ("model", "layer", "target", "method", "n", "features", "r", "r_sd", "r2", "mse",
         "auroc", "penalty", "null_mean", "null_95", "p_perm"),
        (Extra("folds", "probe-folds", ("model", "layer", "fold", "n_test", "r", "r2", "mse",
                                        "auroc", "penalty"), "folds_out",
               "Also write every fold's scores here."),
         Extra("best", "probe-best", ("model", "target", "n", "layers", "best_layer", "depth",
                                      "probe_r", "probe_auroc", "best_measure", "measure_r",
                                      "measure_auroc"), "best",
               "Per run, the best layer beside the best output measure on the same questions "
               "instead.", replaces_table=True),
         Extra("pairs", "probe-pairs", ("base", "instruct", "layers", "base_peak",
                                        "instruct_peak", "mean_difference", "wilcoxon_p", "r"),
               "pairs", "Base against instruct over layers instead (Wilcoxon signed-rank, "
               "normal approximation, r = |z|/sqrt(layers)).", replaces_table=True)),
        needs_activations=True),
)}


def analysis(name: str) -> AnalysisSpec:
    """The entry named ``name``; an unknown name is a BadInput listing the analyses."""
    try:
        return ANALYSES[name]
    except KeyError:
        raise BadInput(f"unknown analysis {name!r}",
                       fix=f"use one of {', '.join(ANALYSES)}") from None
