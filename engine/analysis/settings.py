"""The six analyses, the settings each table takes, and their defaults.

Light (no numpy, no scipy), so that front ends build their options from it at start-up: the CLI's
sub-commands (``tui/cli/analyze_cmd.py``) and the console's tables. Each table function
(``tables.TABLES``) takes exactly the settings :data:`SETTINGS` names, as keyword arguments.
"""

from __future__ import annotations

ANALYSES = ("alignment", "agreement", "kendall", "calibration", "ece", "jsd")
DEFAULT_BINS = 10
DEFAULT_PERMUTATIONS = 1000
# a subject's rho over fewer questions is mostly noise (often exactly +-1)
MIN_SUBJECT_N = 20
DEFAULTS = {"measures": None, "scale": "raw", "variant": "corrected", "seed": 0,
            "permutations": DEFAULT_PERMUTATIONS, "bins": DEFAULT_BINS, "cdf": "empirical",
            "adjust": "none", "min_subject_n": MIN_SUBJECT_N}
SETTINGS = {
    "alignment": ("measures", "scale", "adjust"),
    "agreement": ("variant",),
    "kendall": (),
    "calibration": ("measures", "scale", "adjust", "min_subject_n"),
    "ece": ("measures", "scale", "bins", "cdf"),
    "jsd": ("measures", "scale", "variant", "seed", "permutations", "adjust"),
}
