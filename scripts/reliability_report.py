#!/usr/bin/python3
"""Writes the figures scripts/reliability.sh collected into docs/reliability.md, between the markers
<!-- figures:NAME --> and <!-- /figures:NAME -->, leaving the prose around them alone. A part whose input is
missing keeps what the document had."""

import argparse
import datetime
import json
import os
import re


def table_faults(path):
    """One row per kind of fault, summed over the runs (a test repeated N times prints its line N times)."""
    kinds = {}
    for line in open(path):
        _, kind, injected, checked, lost, outcome = line.rstrip("\n").split("|", 5)
        k = kinds.setdefault(kind, {"runs": 0, "injected": 0, "checked": 0, "lost": 0})
        k["runs"] += 1
        k["injected"] += int(injected)
        k["checked"] += int(checked)
        k["lost"] += int(lost)
        k["outcome"] = outcome  # the last run's words
    rows = ["| fault injected | test runs | faults | acknowledged appends checked after | lost | outcome (last run) |",
            "|---|---:|---:|---:|---:|---|"]
    for kind, k in kinds.items():
        rows.append("| %s | %d | %d | %d | %d | %s |" % (kind, k["runs"], k["injected"], k["checked"], k["lost"],
                                                        k["outcome"]))
    return "\n".join(rows)


def table_campaign(path):
    c = json.load(open(path))
    rows = ["| figure | value |", "|---|---|"]
    for key, label in [("rounds_passed", "rounds run and passed (SIGKILL, restart, every check)"),
                       ("rounds_planned", "rounds planned"),
                       ("finished", "finished (false: stopped early; the figures are those of its last tenth round)"),
                       ("seconds", "wall time, s"), ("seed", "seed"),
                       ("registrations", "registrations acknowledged"), ("commands", "commands acknowledged"),
                       ("appeals", "appeals in the log at the end"), ("rebuilds", "projection rebuilds acknowledged"),
                       ("kills_during_rebuild", "kills while a rebuild was running"),
                       ("publications", "rule publications acknowledged"),
                       ("kills_during_publication", "kills while a publication was in flight"),
                       ("imports_killed", "`otinish import` runs killed (and checked)"),
                       ("sla_rungs", "SLA rungs checked for exactly-once (sampled timelines)"),
                       ("date", "date")]:
        if key in c:
            rows.append("| %s | %s |" % (label, c[key]))
    return "\n".join(rows)


def replace(doc, name, text):
    pattern = re.compile(r"(<!-- figures:%s -->\n).*?(\n<!-- /figures:%s -->)" % (name, name), re.S)
    if not pattern.search(doc):
        raise SystemExit("docs/reliability.md has no markers for %s" % name)
    return pattern.sub(lambda m: m.group(1) + text + m.group(2), doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--doc", required=True)
    a = ap.parse_args()
    doc = open(a.doc).read()
    f = lambda n: os.path.join(a.dir, n)  # noqa: E731
    if os.path.exists(f("faults.txt")):
        doc = replace(doc, "faults", table_faults(f("faults.txt")))
    if os.path.exists(f("campaign.json")):
        doc = replace(doc, "campaign", table_campaign(f("campaign.json")))
    if os.path.exists(f("fuzz.txt")):
        table = [line.rstrip() for line in open(f("fuzz.txt")) if line.startswith("|")]
        doc = replace(doc, "fuzz", "\n".join(table))
    if os.path.exists(f("sanitizers.txt")):
        doc = replace(doc, "sanitizers", "```\n" + open(f("sanitizers.txt")).read().strip() + "\n```\n(" +
                      datetime.date.today().isoformat() + ")")
    open(a.doc, "w").write(doc)


if __name__ == "__main__":
    main()
