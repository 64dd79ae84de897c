#!/usr/bin/env python3
"""Markdown summary of a ci/run-scenarios.sh run.

    summarize.py OUT_DIR [--github-output FILE]

Reads OUT_DIR/status.tsv (scenario, exit code, verdict), the JUnit files
OUT_DIR/junit/NAME.xml (what `labctl run --junit` wrote: test cases,
failures, errors, skipped) and OUT_DIR/logs/NAME.log (the run's stderr,
whose last line says why a scenario was skipped or failed). Prints a
Markdown table; appends passed=/failed=/invalid=/skipped=/error= counts to
FILE (GitHub step outputs).
"""

import argparse
import collections
import pathlib
import sys
import xml.etree.ElementTree as ET

ICON = {"passed": "✅", "failed": "❌", "invalid": "⚠️", "skipped": "⏭️", "error": "💥"}


def junit_counts(path):
    """(tests, failures + errors, skipped) over every <testsuite>, or None."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    tests = failed = skipped = 0
    for s in suites:
        tests += int(s.get("tests", 0))
        failed += int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
    return tests, failed, skipped


def last_line(path):
    """The last non-empty line of a log, shortened for a table cell."""
    try:
        lines = [l.strip() for l in path.read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return ""
    text = lines[-1] if lines else ""
    text = text.replace("|", "\\|")
    return text if len(text) <= 200 else text[:197] + "..."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("--github-output", default="/dev/null")
    args = ap.parse_args()

    rows = []
    counts = collections.Counter()
    for line in (args.out / "status.tsv").read_text().splitlines():
        name, code, verdict = line.split("\t")
        counts[verdict] += 1
        junit = junit_counts(args.out / "junit" / f"{name}.xml")
        cases = "–" if junit is None else f"{junit[0] - junit[1] - junit[2]} / {junit[0]} passed"
        note = "" if verdict == "passed" else last_line(args.out / "logs" / f"{name}.log")
        rows.append(f"| {name} | {ICON.get(verdict, '')} {verdict} | {code} | {cases} | {note} |")

    total = ", ".join(f"{counts[v]} {v}" for v in ICON if counts[v]) or "none run"
    print(f"### Scenarios: {total}")
    print()
    print("| scenario | verdict | exit | expectations (JUnit) | note |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    with open(args.github_output, "a", encoding="utf-8") as f:
        for verdict in ICON:
            f.write(f"{verdict}={counts[verdict]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
