#!/usr/bin/env python3
"""Builds the side-by-side conformance table (CONFORMANCE.md's body) from wamp-conformance
JSON reports: target/conformance/<router>-<transport>-<serializer>.json.

Usage: python3 conformance/compare.py [REPORT_DIR] > table.md
A scenario is "pass" for a router when it passed on every transport and serializer run,
"FAIL (...)" lists the runs where it failed, "not announced" when the router does not
announce the feature, "not configured" when the run was not told how the router is
configured for it (the authorization group without --authz-denied-prefix).
"""
import glob
import json
import os
import sys

report_dir = sys.argv[1] if len(sys.argv) > 1 else "target/conformance"
routers = {}
for path in sorted(glob.glob(os.path.join(report_dir, "*.json"))):
    name = os.path.basename(path)[:-5]
    router, _, run = name.partition("-")
    with open(path) as f:
        routers.setdefault(router, {})[run] = json.load(f)

order = ["nexusd", "crossbar"]
names = [r for r in order if r in routers] + sorted(r for r in routers if r not in order)
if not names:
    sys.exit(f"no reports in {report_dir}")

rows = {}
for router in names:
    for run, report in routers[router].items():
        for row in report["rows"]:
            key = (row["group"], row["name"])
            entry = rows.setdefault(key, {"rule": row["rule"], "results": {}})
            entry["results"].setdefault(router, {})[run] = row

def cell(results):
    if not results:
        return "—"
    kinds = {r["result"] for r in results.values()}
    if kinds == {"pass"}:
        return "pass"
    if kinds == {"not_announced"}:
        return "not announced"
    if kinds == {"not_configured"}:
        return "not configured"
    failed = sorted(run for run, r in results.items() if r["result"] == "fail")
    if failed:
        first = next(r for r in results.values() if r["result"] == "fail")
        why = f"expected {first['expected']}, got {first['got']}".replace("|", "\\|")
        runs = "all runs" if len(failed) == len(results) else ", ".join(failed)
        return f"**FAIL** ({runs}): {why}"
    return ", ".join(sorted(kinds))

totals = {}
for router in names:
    p = f = s = 0
    for report in routers[router].values():
        p += report["passed"]
        f += report["failed"]
        s += report["skipped"]
    runs = ", ".join(sorted(routers[router]))
    agent = next((r.get("agent") for r in routers[router].values() if r.get("agent")), None)
    totals[router] = (p, f, s, runs, agent)

print("| router | agent | runs | passed | failed | skipped |")
print("|---|---|---|---:|---:|---:|")
for router in names:
    p, f, s, runs, agent = totals[router]
    print(f"| {router} | {agent or '?'} | {runs} | {p} | {f} | {s} |")
print()
group = None
for (g, scenario), entry in rows.items():
    if g != group:
        group = g
        print(f"\n### {g}\n")
        print("| scenario | rule | " + " | ".join(names) + " |")
        print("|---|---|" + "---|" * len(names))
    cells = [cell(entry["results"].get(r, {})) for r in names]
    print(f"| {scenario} | {entry['rule'].replace('|', '/')} | " + " | ".join(cells) + " |")
