"""The HTML reports of ``load --html`` and ``bench capacity --html``: one self-contained file each.

Everything is inline (CSS, SVG plots from ``loadtests.svg``; no script, no font, no CDN), so the file opens
offline and can be attached to a CI run. The numbers are the summary's own: the report is rendered from
the same dict that ``--json`` writes, and ``summary_json`` embeds it for whoever wants to check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from loadtests.svg import bar_chart, line_chart
from loadtests.text import figure

__all__ = ["render_bench_report", "render_load_report"]

_ENV = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["fig"] = figure

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#111;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums} .pass{color:#15803d;font-weight:600}
.fail{color:#b91c1c;font-weight:600} .verdict{font-size:1.2em;padding:.4em .8em;display:inline-block;border-radius:4px}
.verdict.pass{background:#dcfce7} .verdict.fail{background:#fee2e2} .plots{display:flex;flex-wrap:wrap;gap:1em}
figure.plot{margin:0} figcaption{font-weight:600} svg text{font-size:11px;fill:#333} .meta{color:#555}
"""

_SLO = """
{% if slo %}
<h2>SLO verdicts</h2>
<table data-testid="slo"><tr><th>SLO</th><th>limit</th><th>measured</th><th>samples</th><th>result</th></tr>
{% for name, r in slo.items() %}
<tr><td>{{ name }}</td><td class="n">{{ "<=" if r.direction == "max" else ">=" }} {{ r.limit }}</td>
<td class="n">{{ r.reason or (r.value | fig(1)) }}</td><td class="n">{{ r.samples | fig }}</td>
<td class="{{ 'pass' if r['pass'] else 'fail' }}">{{ "pass" if r['pass'] else "FAIL" }}</td></tr>
{% endfor %}
</table>
{% endif %}
"""

_LOAD = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SSE load report: {{ s.scenario }}</title>
<style>{{ style }}</style></head><body>
<h1>SSE load: {{ s.scenario }} against {{ s.host }}</h1>
<p class="meta">{{ s.users }} users, spawn rate {{ s.spawn_rate }}/s, {{ s.duration_s }} s, {{ s.workers }} process(es),
transport {{ s.transport }}, source {{ s.source }}, Locust {{ s.locust_version }}</p>
<p class="verdict {{ 'pass' if verdict == 'pass' else 'fail' }}" data-testid="verdict">{{ verdict_text }}</p>
""" + _SLO + """
<h2>SSE summary</h2>
<table data-testid="sse-summary">
{% for name, value in rows %}<tr><td>{{ name }}</td><td class="n">{{ value }}</td></tr>
{% endfor %}
</table>
<h2>Over time</h2>
<div class="plots">{% for plot in timeline_plots %}{{ plot }}{% endfor %}</div>
<h2>Latency distribution</h2>
{{ distribution }}
<h2>Locust request statistics</h2>
<table data-testid="requests"><tr><th>type</th><th>name</th><th>requests</th><th>failures</th><th>avg ms</th>
<th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>
{% for e in s.requests.entries %}
<tr><td>{{ e.type }}</td><td>{{ e.name }}</td><td class="n">{{ e.requests | fig }}</td>
<td class="n">{{ e.failures | fig }}</td><td class="n">{{ e.avg_ms | fig(1) }}</td>
<td class="n">{{ e.p50 | fig(1) }}</td><td class="n">{{ e.p95 | fig(1) }}</td><td class="n">{{ e.p99 | fig(1) }}</td>
<td class="n">{{ e.max | fig(1) }}</td></tr>
{% endfor %}
</table>
<script type="application/json" id="summary">{{ summary_json }}</script>
</body></html>
""")

_BENCH = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SSE capacity report</title>
<style>{{ style }}</style></head><body>
<h1>Capacity: {{ r.streams_requested | fig }} streams, {{ r.sessions }} session(s)</h1>
<p class="meta">{{ r.machine.cpu }}, {{ r.machine.cores }} cores, {{ r.machine.memory_gb }} GB, Python
{{ r.machine.python }}, transport {{ r.transport }}; <code>{{ r.command }}</code></p>
<p class="verdict {{ 'pass' if verdict == 'pass' else 'fail' }}" data-testid="verdict">{{ verdict_text }}</p>
""" + _SLO.replace("slo.items()", "slo.items()") + """
<h2>Figures</h2>
<table data-testid="figures"><tr><th>measure</th><th>value</th><th>target (a figure)</th></tr>
{% for name, value, target in rows %}<tr><td>{{ name }}</td><td class="n">{{ value }}</td><td>{{ target }}</td></tr>
{% endfor %}
</table>
<h2>Plots</h2>
<div class="plots">{% for plot in plots %}{{ plot }}{% endfor %}</div>
<script type="application/json" id="results">{{ results_json }}</script>
</body></html>
""")


def _verdict(nothing: str | None, slo: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    if nothing:
        return "fail", f"NOTHING MEASURED: {nothing}"
    failed = [name for name, r in slo.items() if not r["pass"]]
    if failed:
        return "fail", "SLO FAILED: " + ", ".join(failed)
    return "pass", ("every SLO passed" if slo else "measured (no SLO given: figures only)")


def _json(data: Mapping[str, Any]) -> Markup:
    # Inside <script>, "</" must not appear: escape the slash; autoescape is off for this trusted JSON.
    return Markup(json.dumps(data).replace("</", "<\\/"))


def _quantile_text(block: Mapping[str, Any] | None) -> str:
    block = block or {}
    return " / ".join(figure(block.get(k), 1) for k in ("p50", "p95", "p99", "max")) + " ms"


def render_load_report(summary: Mapping[str, Any]) -> str:
    s = summary
    timeline = list(s.get("timeline") or [])
    ts = [float(p["t"]) for p in timeline]

    def col(key: str) -> list[float | None]:
        return [p.get(key) for p in timeline]

    plots = [
        line_chart("plot-streams", "Streams open and users", ts, {"streams open": col("streams_open"),
                                                                 "users": col("users")}, y_label="count"),
        line_chart("plot-events", "Status events per second", ts, {"events/s": col("events_per_s")},
                   y_label="events/s"),
        line_chart("plot-latency", "Event latency p50 / p99 per interval", ts,
                   {"p99": col("latency_p99_ms"), "p50": col("latency_p50_ms")}, y_label="ms"),
        line_chart("plot-faults", "Reconnects and errors (cumulative)", ts,
                   {"reconnects": col("reconnects"), "errors": col("errors")}, y_label="count"),
    ]
    watches = s.get("watches") or {}
    by_type = s.get("events_by_type") or {}
    rows = [
        ("streams peak / opened", f"{figure(s.get('streams_peak'))} / {figure(s.get('streams_opened'))}"),
        ("status events received (snapshots)", f"{figure(s.get('events_received'))} ({figure(s.get('snapshots'))})"),
        ("events by type", ", ".join(f"{k}={v:,}" for k, v in by_type.items()) or "none"),
        ("gaps / duplicates / out of order", f"{s.get('gaps')} / {s.get('duplicates')} / {s.get('out_of_order')}"),
        ("reconnects / resets", f"{s.get('reconnects')} / {s.get('resets')}"),
        ("errors (rate)", f"{s.get('errors')} ({s.get('error_rate')})"),
        ("errors by type", ", ".join(f"{k}={v}" for k, v in (s.get("errors_by_type") or {}).items()) or "none"),
        ("event latency p50 / p95 / p99 / max", _quantile_text(s.get("latency_ms"))),
        ("latency samples / unknown (no timestamp)",
         f"{figure((s.get('latency_ms') or {}).get('count'))} / {figure(s.get('latency_unknown'))}"),
        ("connect p50 / p95 / p99 / max", _quantile_text(s.get("connect_ms"))),
        ("reconnect p50 / p95 / p99 / max", _quantile_text(s.get("reconnect_ms"))),
        ("jobs followed to the end / open at stop", f"{watches.get('terminal')} / {watches.get('open_at_stop')}"),
    ]
    verdict, verdict_text = _verdict(s.get("nothing_measured"), s.get("slo") or {})
    distribution = bar_chart("plot-latency-distribution", "Event latency distribution (count per ms bucket)",
                             list(s.get("latency_histogram_ms") or []))
    return _LOAD.render(s=s, style=_STYLE, slo=s.get("slo") or {}, rows=rows, timeline_plots=[Markup(p) for p in plots],
                        distribution=Markup(distribution), verdict=verdict, verdict_text=verdict_text,
                        summary_json=_json(s))


def render_bench_report(results: Mapping[str, Any]) -> str:
    from loadtests.bench_gate import TARGETS

    r = results
    connect, memory = r.get("connect") or {}, r.get("memory") or {}
    burst, sustained = r.get("burst") or {}, r.get("sustained") or {}
    samples = list(memory.get("rss_by_streams") or [])
    plots = [
        line_chart("plot-rss", f"API RSS by open streams ({figure(memory.get('api_rss_per_stream_kb'), 1)} KB per "
                   "idle stream)", [float(p["streams"]) for p in samples], {"RSS MB": [p["rss_mb"] for p in samples]},
                   x_label="streams open", y_label="MB"),
        bar_chart("plot-connect-distribution", "Connect time distribution (headers + snapshot)",
                  list((connect.get("connect_ms") or {}).get("histogram") or [])),
        bar_chart("plot-burst-distribution", "Fan-out burst latency distribution",
                  list((burst.get("latency_ms") or {}).get("histogram") or [])),
        bar_chart("plot-sustained-distribution", "Sustained phase latency distribution",
                  list((sustained.get("latency_ms") or {}).get("histogram") or [])),
    ]
    per_delivery = [(name, block.get("api_cpu_ms_per_delivery")) for name, block in
                    (("burst", burst), ("sustained", sustained))]
    known = [(name, v) for name, v in per_delivery if v is not None]
    plots.append(bar_chart("plot-cpu", "API CPU per delivered event (ms)", [[i, v] for i, (_, v) in enumerate(known)],
                           x_label="", y_label="ms", labels=[name for name, _ in known]))
    rows = [
        ("streams open / failed", f"{figure(connect.get('streams'))} / {figure(connect.get('failed'))}",
         f">= {TARGETS['streams']:,g}"),
        ("connect p50 / p95 / p99 / max", _quantile_text(connect.get("connect_ms")), ""),
        ("API RSS per idle stream", f"{figure(memory.get('api_rss_per_stream_kb'), 1)} KB",
         f"<= {TARGETS['rss_per_stream_kb']:g} KB"),
        ("Redis pub/sub connections of the API", figure((r.get("redis_connections") or {}).get("pubsub")),
         f"<= {TARGETS['redis_pubsub_connections']:g}"),
        ("burst p50 / p95 / p99 / max", _quantile_text(burst.get("latency_ms")),
         f"p99 <= {TARGETS['burst_p99_ms']:g} ms"),
        ("burst lost", figure(burst.get("lost")), "0"),
        ("sustained delivered / s", figure(sustained.get("delivered_per_s"), 1), ""),
        ("sustained p50 / p95 / p99 / max", _quantile_text(sustained.get("latency_ms")), ""),
        ("API CPU per delivery burst / sustained",
         f"{figure(burst.get('api_cpu_ms_per_delivery'), 4)} / "
         f"{figure(sustained.get('api_cpu_ms_per_delivery'), 4)} ms",
         ""),
        ("terminal status delivered", f"{figure((r.get('finish') or {}).get('terminal'))} of "
         f"{figure((r.get('finish') or {}).get('streams'))}", ""),
    ]
    from loadtests.bench_gate import figure_rows

    rows += list(figure_rows(r))
    verdict, verdict_text = _verdict(r.get("nothing_measured"), r.get("slo") or {})
    return _BENCH.render(r=r, style=_STYLE, slo=r.get("slo") or {}, rows=rows, plots=[Markup(p) for p in plots],
                         verdict=verdict, verdict_text=verdict_text, results_json=_json(r))
