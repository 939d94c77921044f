"""An OTLP/HTTP metrics receiver on 127.0.0.1 for tests/export/otlp_python.rs,
decoding with the OpenTelemetry project's Python messages (PyPI
opentelemetry-proto, on Google's protobuf runtime: independent of prost).

Prints "PORT <n>" once listening, then one JSON line per request:
{"path", "content_type", "content_encoding", "errors": [...],
 "resources": [...]} where every field of every data point is written out
(int64/uint64 as decimal strings, doubles as repr() strings, so NaN and the
infinities survive JSON). "errors" lists the request's violations of the
OTLP data model rules this receiver checks itself (count == buckets total,
bounds ascending, one more bucket than bounds, start <= time, ...).

Each stdin line, JSON {"status": n, "retry_after": "1", "rejected": n,
"message": "..."}, scripts the answer to one later request (in order),
and is acknowledged by a "SCRIPTED" line once queued; without one, the
answer is 200 with an empty ExportMetricsServiceResponse.
"""

import gzip
import json
import queue
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2

answers = queue.Queue()
out_lock = threading.Lock()


def any_value(v):
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return ["string", v.string_value]
    if kind == "int_value":
        return ["int", str(v.int_value)]
    if kind == "double_value":
        return ["double", repr(v.double_value)]
    if kind == "bool_value":
        return ["bool", v.bool_value]
    return [kind, None]


def attributes(kvs):
    return [[kv.key] + any_value(kv.value) for kv in kvs]


def opt(p, field):
    return repr(getattr(p, field)) if p.HasField(field) else None


def number_point(p, errors, name):
    kind = p.WhichOneof("value")
    if p.start_time_unix_nano and p.start_time_unix_nano > p.time_unix_nano:
        errors.append(f"{name}: start after time")
    return {
        "attributes": attributes(p.attributes),
        "start": str(p.start_time_unix_nano),
        "time": str(p.time_unix_nano),
        "flags": p.flags,
        "kind": kind,
        "value": str(p.as_int) if kind == "as_int" else repr(p.as_double),
    }


def histogram_point(p, errors, name):
    if len(p.bucket_counts) != len(p.explicit_bounds) + 1:
        errors.append(f"{name}: {len(p.bucket_counts)} buckets for {len(p.explicit_bounds)} bounds")
    if sum(p.bucket_counts) != p.count:
        errors.append(f"{name}: count {p.count} != buckets total {sum(p.bucket_counts)}")
    if any(a >= b for a, b in zip(p.explicit_bounds, p.explicit_bounds[1:])):
        errors.append(f"{name}: bounds not ascending")
    if p.start_time_unix_nano > p.time_unix_nano:
        errors.append(f"{name}: start after time")
    return {
        "attributes": attributes(p.attributes),
        "start": str(p.start_time_unix_nano),
        "time": str(p.time_unix_nano),
        "count": str(p.count),
        "sum": opt(p, "sum"),
        "min": opt(p, "min"),
        "max": opt(p, "max"),
        "bucket_counts": [str(c) for c in p.bucket_counts],
        "explicit_bounds": [repr(b) for b in p.explicit_bounds],
        "flags": p.flags,
    }


def exponential_point(p, errors, name):
    total = p.zero_count + sum(p.positive.bucket_counts) + sum(p.negative.bucket_counts)
    if total != p.count:
        errors.append(f"{name}: count {p.count} != zero + buckets {total}")
    if p.start_time_unix_nano > p.time_unix_nano:
        errors.append(f"{name}: start after time")
    if not -10 <= p.scale <= 20:
        errors.append(f"{name}: scale {p.scale} out of range")
    return {
        "attributes": attributes(p.attributes),
        "start": str(p.start_time_unix_nano),
        "time": str(p.time_unix_nano),
        "count": str(p.count),
        "sum": opt(p, "sum"),
        "min": opt(p, "min"),
        "max": opt(p, "max"),
        "scale": p.scale,
        "zero_count": str(p.zero_count),
        "zero_threshold": repr(p.zero_threshold),
        "positive": {
            "offset": p.positive.offset,
            "bucket_counts": [str(c) for c in p.positive.bucket_counts],
        },
        "has_negative": p.HasField("negative") and len(p.negative.bucket_counts) > 0,
        "flags": p.flags,
    }


def metric(m, errors):
    kind = m.WhichOneof("data")
    out = {"name": m.name, "description": m.description, "unit": m.unit, "kind": kind}
    data = getattr(m, kind)
    if kind == "gauge":
        out["points"] = [number_point(p, errors, m.name) for p in data.data_points]
    elif kind == "sum":
        out["temporality"] = metrics_pb2.AggregationTemporality.Name(data.aggregation_temporality)
        out["monotonic"] = data.is_monotonic
        out["points"] = [number_point(p, errors, m.name) for p in data.data_points]
    elif kind == "histogram":
        out["temporality"] = metrics_pb2.AggregationTemporality.Name(data.aggregation_temporality)
        out["points"] = [histogram_point(p, errors, m.name) for p in data.data_points]
    elif kind == "exponential_histogram":
        out["temporality"] = metrics_pb2.AggregationTemporality.Name(data.aggregation_temporality)
        out["points"] = [exponential_point(p, errors, m.name) for p in data.data_points]
    else:
        errors.append(f"{m.name}: unexpected kind {kind}")
    return out


def decode(body):
    request = ExportMetricsServiceRequest()
    request.ParseFromString(body)
    errors = []
    resources = []
    for rm in request.resource_metrics:
        resources.append(
            {
                "attributes": attributes(rm.resource.attributes),
                "scopes": [
                    {
                        "name": sm.scope.name,
                        "version": sm.scope.version,
                        "metrics": [metric(m, errors) for m in sm.metrics],
                    }
                    for sm in rm.scope_metrics
                ],
            }
        )
    return errors, resources


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        encoding = self.headers.get("Content-Encoding", "")
        record = {
            "path": self.path,
            "content_type": self.headers.get("Content-Type", ""),
            "content_encoding": encoding,
        }
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            record["errors"], record["resources"] = decode(body)
        except Exception as e:  # the test reports whatever failed to decode
            record["errors"], record["resources"] = [f"{type(e).__name__}: {e}"], []
        try:
            answer = answers.get_nowait()
        except queue.Empty:
            answer = {"status": 200}
        record["answered"] = answer["status"]
        with out_lock:
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()
        response = ExportMetricsServiceResponse()
        if "rejected" in answer:
            response.partial_success.rejected_data_points = answer["rejected"]
            response.partial_success.error_message = answer.get("message", "")
        payload = response.SerializeToString()
        self.send_response(answer["status"])
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        if "retry_after" in answer:
            self.send_header("Retry-After", answer["retry_after"])
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def read_answers():
    for line in sys.stdin:
        if line.strip():
            answers.put(json.loads(line))
            # The test waits for this before it makes the request the
            # answer is for: without it, a request may overtake its script.
            with out_lock:
                sys.stdout.write("SCRIPTED\n")
                sys.stdout.flush()
    # stdin closed: the test is over.
    server.shutdown()


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=read_answers, daemon=True).start()
sys.stdout.write(f"PORT {server.server_address[1]}\n")
sys.stdout.flush()
server.serve_forever()
