"""Parses expositions with the Python prometheus_client's parsers, for
tests/export/prometheus_python.rs: one JSON request per stdin line,
{"format": "text" | "openmetrics", "body": "..."}, one JSON answer per
stdout line, {"ok": true, "families": [...]} or {"ok": false, "error": "..."}.
Values are written as repr() strings, since JSON has no NaN or infinities.
"""

import json
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text


def families(body, fmt):
    parse = parse_openmetrics if fmt == "openmetrics" else parse_text
    out = []
    for f in parse(body):
        out.append(
            {
                "name": f.name,
                "type": f.type,
                "help": f.documentation,
                "unit": f.unit,
                "samples": [
                    {"name": s.name, "labels": s.labels, "value": repr(float(s.value))}
                    for s in f.samples
                ],
            }
        )
    return out


for line in sys.stdin:
    request = json.loads(line)
    try:
        answer = {"ok": True, "families": families(request["body"], request["format"])}
    except Exception as e:  # the test reports whatever the parser refused
        answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
