"""Pew Research Center ATP respondent files (SPSS ``.sav``) -> :class:`RawQuestion` list.

Read with pyreadstat (never pickle). For each selected variable:

* options are the variable's value labels, in code order (a labelled code nobody chose is still an
  option, with share 0; a code present in the data without a label is an option named after the
  code, with a warning);
* shares are weighted counts with the wave weight (``WEIGHT_W<n>``, auto-detected; ``weight=``
  overrides; ``unweighted=True`` counts respondents, with a loud warning recorded in the report);
* code 99, and any label in the refusal list (e.g. "Refused"), is a refusal: code 99 keeps its
  label when that label is a refusal, otherwise it is relabelled "Refused" (the original label is
  kept in ``meta``), so the §6 rules remove it and count it in the report;
* system-missing values (and respondents with a missing weight) are skipped;
* question text = the variable label; question_id = the variable name.

``questions`` selects variables: exact names (case-insensitive if unambiguous), globs (``Q*``,
``*_W5``), or regular expressions (``re:^Q\\d+$``, full match).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import BadInput
from datasets_io.rules import DEFAULT_REFUSALS, Parsed, RawQuestion, is_refusal
from datasets_io.textio import check_file

REFUSAL_CODE = 99
WEIGHT_RE = re.compile(r"^WEIGHT_W\d+[A-Z]?$", re.IGNORECASE)


def _read_meta(p: Path):
    import pyreadstat

    try:
        _, meta = pyreadstat.read_sav(str(p), metadataonly=True)
    except Exception as err:  # noqa: BLE001 - pyreadstat raises several types for bad files
        raise BadInput(f"not a readable SPSS .sav file ({type(err).__name__}: "
                       f"{str(err).splitlines()[0][:100] if str(err) else ''})", where=p,
                       fix="give the .sav file of the ATP wave") from None
    return meta


def select_variables(names: list[str], specs: list[str], path: Path) -> list[str]:
    """Resolve names / globs / ``re:`` regexes to variable names, in file order, no repeats."""
    chosen: list[str] = []
    lowered: dict[str, list[str]] = {}
    for n in names:
        lowered.setdefault(n.lower(), []).append(n)
    for raw_spec in specs:
        for spec in [s.strip() for s in raw_spec.split(",") if s.strip()]:
            if spec in names:
                found = [spec]
            elif spec.lower().startswith("re:"):
                try:
                    rx = re.compile(spec[3:])
                except re.error as err:
                    raise BadInput(f"bad regular expression {spec!r} ({err})",
                                   fix="fix the pattern after 're:'") from None
                found = [n for n in names if rx.fullmatch(n)]
            elif any(ch in spec for ch in "*?["):
                found = [n for n in names if fnmatch.fnmatchcase(n, spec)] or \
                        [n for n in names if fnmatch.fnmatch(n.lower(), spec.lower())]
            elif len(lowered.get(spec.lower(), [])) == 1:
                found = lowered[spec.lower()]
            else:
                found = []
            if not found:
                near = [n for n in names if spec.lower()[:3] in n.lower()][:8] or names[:8]
                raise BadInput(f"no variable matches {spec!r}", where=path,
                               fix=f"give variable names, a glob or re:REGEX (variables include: "
                                   f"{', '.join(near)})")
            for n in found:
                if n not in chosen:
                    chosen.append(n)
    if not chosen:
        raise BadInput("no questions selected", where=path, fix="pass --questions NAMES|GLOB")
    order = {n: i for i, n in enumerate(names)}
    return sorted(chosen, key=order.__getitem__)


def detect_weight(names: list[str], path: Path) -> str:
    found = [n for n in names if WEIGHT_RE.match(n)]
    if len(found) == 1:
        return found[0]
    if not found:
        near = [n for n in names if "weight" in n.lower() or n.lower().startswith("wt")][:8]
        hint = f" (weight-like variables: {', '.join(near)})" if near else ""
        raise BadInput(f"no wave weight variable WEIGHT_W<n>{hint}", where=path,
                       fix="pass --weight NAME, or --unweighted to count respondents (not "
                           "representative)")
    raise BadInput(f"several wave weights: {', '.join(found)}", where=path,
                   fix="pass --weight NAME to choose one")


def _code_key(value: float) -> float:
    return float(value)


def _code_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def parse_pew(path: str | Path, questions: list[str], *, weight: str | None = None,
              unweighted: bool = False,
              refusals: tuple[str, ...] = DEFAULT_REFUSALS) -> Parsed:
    """Parse the selected variables: their questions, details for the report, warnings (code
    99 is relabelled by ``refusals``, which the result records)."""
    import pyreadstat

    p = check_file(path, what=".sav file")
    meta = _read_meta(p)
    names = list(meta.column_names)
    value_labels = meta.variable_value_labels or {}
    warnings: list[str] = []
    weight_var = _choose_weight(names, weight, unweighted, p, warnings)
    chosen, skipped_no_labels = _choose_questions(names, questions, weight_var, value_labels, p,
                                                  warnings)
    usecols = chosen + ([weight_var] if weight_var else [])
    try:
        frame, _ = pyreadstat.read_sav(str(p), usecols=usecols, user_missing=True)
    except Exception as err:  # noqa: BLE001
        raise BadInput(f"cannot read the data ({type(err).__name__}: {str(err)[:100]})", where=p,
                       fix="check the file") from None
    w, bad_w = _respondent_weights(frame, weight_var, p, warnings)
    raw: list[RawQuestion] = []
    relabelled = 0
    for n in chosen:
        q = _question(frame, n, w, bad_w, (meta.column_names_to_labels or {}).get(n),
                      value_labels[n], weight_var, refusals, p, warnings)
        relabelled += "code_99_original_label" in q.meta
        raw.append(q)
    if relabelled:
        warnings.append(f"{relabelled} question(s): code 99 relabelled 'Refused' so it is removed "
                        "as a refusal (original labels in meta)")
    details = {"format": "pew", "weight": weight_var, "unweighted": bool(unweighted),
               "questions_selected": chosen, "n_respondents": int(len(frame)),
               "skipped_without_value_labels": skipped_no_labels,
               "refusal_code": REFUSAL_CODE}
    return Parsed("pew", p, raw, details, warnings, refusals=tuple(refusals))


def _choose_weight(names: list[str], weight: str | None, unweighted: bool, p: Path,
                   warnings: list[str]) -> str | None:
    """The weight variable: the one asked for, none (``unweighted``), or the detected one."""
    if unweighted and weight:
        raise BadInput("--weight and --unweighted contradict each other", fix="pass only one")
    if unweighted:
        warnings.append(f"UNWEIGHTED shares: {p.name} is read without its survey weight, so the "
                        "shares describe the sample, not the population (pass --weight or drop "
                        "--unweighted)")
        return None
    if weight:
        if weight not in names:
            near = [n for n in names if "weight" in n.lower()][:8]
            raise BadInput(f"no weight variable {weight!r} (--weight)", where=p,
                           fix=f"weight-like variables: {', '.join(near) or 'none'}")
        return weight
    return detect_weight(names, p)


def _choose_questions(names: list[str], questions: list[str], weight_var: str | None,
                      value_labels: dict[str, Any], p: Path,
                      warnings: list[str]) -> tuple[list[str], list[str]]:
    """The selected variables that are questions (value labels, not a weight), and those
    matched by a pattern but skipped for having no value labels. Naming a weight or an
    unlabelled variable explicitly is an error."""
    explicit = {s.strip() for spec in questions for s in spec.split(",")}
    skipped: list[str] = []
    chosen: list[str] = []
    for n in select_variables(names, questions, p):
        if n == weight_var or WEIGHT_RE.match(n):
            if n in explicit:
                raise BadInput(f"{n!r} is a weight variable, not a question", where=p,
                               fix="remove it from --questions")
            continue
        if not value_labels.get(n):
            if n in explicit:
                raise BadInput(f"variable {n!r} has no value labels, so it has no answer options",
                               where=p, fix="choose categorical question variables")
            skipped.append(n)
            continue
        chosen.append(n)
    if skipped:
        warnings.append(f"{len(skipped)} matched variable(s) without value labels "
                        f"skipped: {', '.join(skipped[:10])}{' ...' if len(skipped) > 10 else ''}")
    if not chosen:
        raise BadInput("none of the selected variables has value labels", where=p,
                       fix="choose categorical question variables")
    return chosen, skipped


def _respondent_weights(frame: Any, weight_var: str | None, p: Path,
                        warnings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each respondent's weight (1 when unweighted), and which respondents to skip for a
    missing or negative weight."""
    if not weight_var:
        return np.ones(len(frame)), np.zeros(len(frame), dtype=bool)
    w = frame[weight_var].to_numpy(dtype=float)
    bad_w = ~np.isfinite(w) | (w < 0)
    if bad_w.any():
        warnings.append(f"{int(bad_w.sum())} respondent(s) with a missing or negative "
                        f"{weight_var} skipped")
    if not (w[~bad_w] > 0).any():
        raise BadInput(f"the weight {weight_var!r} is zero or missing for every respondent",
                       where=p, fix="pass another --weight")
    return w, bad_w


def _question(frame: Any, n: str, w: np.ndarray, bad_w: np.ndarray, label: str | None,
              value_labels: dict[Any, Any], weight_var: str | None, refusals: tuple[str, ...],
              p: Path, warnings: list[str]) -> RawQuestion:
    """Variable ``n`` as a question: one option per value label (and per unlabelled code that
    occurs), with the weighted share of the respondents who gave it."""
    x = frame[n].to_numpy(dtype=float)
    ok = np.isfinite(x) & ~bad_w
    codes, weights = x[ok], w[ok]
    vl = {_code_key(k): str(v) for k, v in value_labels.items()}
    unlabelled = sorted(set(np.unique(codes).tolist()) - set(vl))
    if unlabelled:
        warnings.append(f"{n}: code(s) {', '.join(_code_text(c) for c in unlabelled[:5])} "
                        "have no value label; kept as options named after the code")
    all_codes = sorted(set(vl) | set(unlabelled))
    totals = {c: 0.0 for c in all_codes}
    if len(codes):
        uniq, inverse = np.unique(codes, return_inverse=True)
        sums = np.bincount(inverse, weights=weights)
        for c, s in zip(uniq.tolist(), sums.tolist(), strict=True):
            totals[c] = s
    mass = sum(totals.values())
    text = (label or "").strip()
    if not text:
        warnings.append(f"{n}: no variable label; the variable name is used as question text")
        text = n
    choices: list[str] = []
    original: dict[str, str] = {}
    for c in all_codes:
        choice = vl.get(c, _code_text(c)).strip()
        if c == REFUSAL_CODE and not is_refusal(choice, refusals):
            original[_code_text(c)] = choice
            choice = "Refused"
        choices.append(choice)
    shares = [100.0 * totals[c] / mass if mass > 0 else 0.0 for c in all_codes]
    q_meta: dict[str, Any] = {
        "variable": n, "codes": [_code_text(c) for c in all_codes],
        "weight": weight_var, "n_respondents": int(ok.sum()),
        "weighted_n": float(mass), "n_system_missing": int((~np.isfinite(x)).sum()),
    }
    if original:
        q_meta["code_99_original_label"] = original
    if mass <= 0:
        warnings.append(f"{n}: no respondent answered; the question will be dropped")
    return RawQuestion(question_id=n, text=text, choices=choices, shares=shares, meta=q_meta,
                       location=f"{p}: variable {n}")
