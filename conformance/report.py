"""Output formats: a coloured table for people, JSON for tools, JUnit XML for CI, and the side-by-side
comparison of two targets (the way to see what Cloudflare changes against the origin)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from conformance.model import CheckResult, Outcome, Report

__all__ = ["print_compare", "print_report", "to_json", "to_junit"]

STYLE = {Outcome.PASS: "bold green", Outcome.WARN: "bold yellow", Outcome.FAIL: "bold red", Outcome.SKIP: "dim"}
LABEL = {Outcome.PASS: "PASS", Outcome.WARN: "WARN", Outcome.FAIL: "FAIL", Outcome.SKIP: "skip"}


def _outcome(result: CheckResult | None) -> Text:
    if result is None:
        return Text("-", style="dim")
    return Text(LABEL[result.outcome], style=STYLE[result.outcome])


def _metric(result: CheckResult | None) -> str:
    if result is None or result.metric is None:
        return ""
    return f"{result.metric:g} {result.metric_unit or ''}".strip()


def print_report(report: Report, console: Console) -> None:
    console.print(report.headline(), highlight=False, soft_wrap=True)
    table = Table(title=f"SSE conformance: {report.url}", title_justify="left", show_lines=False,
                  expand=False, pad_edge=False)
    table.add_column("result", no_wrap=True)
    table.add_column("check", no_wrap=True, style="cyan")
    table.add_column("measured", no_wrap=True, justify="right")
    table.add_column("details", overflow="fold")
    for result in report.results:
        table.add_row(_outcome(result), result.id, _metric(result), result.message)
    console.print(table)
    style = "bold green" if report.ok else "bold red"
    console.print(Text(report.summary(), style=style))


def print_compare(a: Report, b: Report, console: Console) -> None:
    table = Table(title=f"A = {a.url} ({a.http_version})\nB = {b.url} ({b.http_version})",
                  title_justify="left", expand=False, pad_edge=False)
    for name, kwargs in (("check", {"style": "cyan", "no_wrap": True}), ("A", {"no_wrap": True}),
                         ("B", {"no_wrap": True}), ("A measured", {"justify": "right", "no_wrap": True}),
                         ("B measured", {"justify": "right", "no_wrap": True}),
                         ("A - B", {"justify": "right", "no_wrap": True}),
                         ("what differs", {"overflow": "fold"})):
        table.add_column(name, **kwargs)
    ids = [r.id for r in a.results] + [r.id for r in b.results if a.get(r.id) is None]
    for check_id in ids:
        ra, rb = a.get(check_id), b.get(check_id)
        delta = ""
        if ra and rb and ra.metric is not None and rb.metric is not None:
            diff = ra.metric - rb.metric
            delta = f"{diff:+.1f} {ra.metric_unit or ''}".strip()
        note = ""
        if ra and rb and ra.outcome is not rb.outcome:
            worse = rb if _rank(rb) > _rank(ra) else ra
            note = f"{'B' if worse is rb else 'A'}: {worse.message}"
        table.add_row(check_id, _outcome(ra), _outcome(rb), _metric(ra), _metric(rb), delta, note)
    console.print(table)
    for label, report in (("A", a), ("B", b)):
        console.print(Text(f"{label}: {report.summary()}", style="bold green" if report.ok else "bold red"))


def _rank(result: CheckResult) -> int:
    return {Outcome.SKIP: 0, Outcome.PASS: 1, Outcome.WARN: 2, Outcome.FAIL: 3}[result.outcome]


def to_json(reports: Sequence[Report]) -> str:
    payload: dict[str, Any]
    if len(reports) == 1:
        payload = reports[0].as_dict()
    else:
        payload = {"ok": all(r.ok for r in reports), "profile": reports[0].profile,
                   "targets": [r.as_dict() for r in reports],
                   "differences": _differences(reports[0], reports[1])}
    return json.dumps(payload, indent=2, default=str)


def _differences(a: Report, b: Report) -> list[dict[str, Any]]:
    out = []
    for ra in a.results:
        rb = b.get(ra.id)
        if rb is None:
            continue
        # what A (e.g. the CDN hostname) adds over B (e.g. the origin)
        delta = ra.metric - rb.metric if ra.metric is not None and rb.metric is not None else None
        if ra.outcome is not rb.outcome or delta is not None:
            out.append({"id": ra.id, "a": ra.outcome.value, "b": rb.outcome.value,
                        "a_metric": ra.metric, "b_metric": rb.metric,
                        "delta": None if delta is None else round(delta, 3), "unit": ra.metric_unit})
    return out


def to_junit(reports: Sequence[Report]) -> str:
    """One ``testsuite`` per target, one ``testcase`` per check: fail -> failure, skip -> skipped,
    warn -> a passing case with the warning in system-out and an ``outcome`` property."""
    root = ET.Element("testsuites", name="sse-conformance")
    for report in reports:
        counts = report.counts()
        suite = ET.SubElement(root, "testsuite", name=f"sse-conformance {report.url}",
                              tests=str(len(report.results)), failures=str(counts["fail"]), errors="0",
                              skipped=str(counts["skip"]), time=f"{report.duration_s:.3f}",
                              timestamp=report.started_at)
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="url", value=report.url)
        ET.SubElement(props, "property", name="profile", value=report.profile)
        ET.SubElement(props, "property", name="http_version", value=str(report.http_version))
        for result in report.results:
            case = ET.SubElement(suite, "testcase", classname=f"sse.{result.id.split('.')[0]}", name=result.id,
                                 time="0")
            case_props = ET.SubElement(case, "properties")
            ET.SubElement(case_props, "property", name="outcome", value=result.outcome.value)
            if result.metric is not None:
                ET.SubElement(case_props, "property", name="metric", value=f"{result.metric:g}")
            evidence = json.dumps(result.evidence, default=str, indent=1)
            if result.outcome is Outcome.FAIL:
                failure = ET.SubElement(case, "failure", message=result.message, type="ConformanceFailure")
                failure.text = evidence
            elif result.outcome is Outcome.SKIP:
                ET.SubElement(case, "skipped", message=result.message)
            out = ET.SubElement(case, "system-out")
            out.text = f"{result.outcome.value.upper()}: {result.message}\n{evidence}"
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
