"""A strict reader of the Prometheus text exposition format (0.0.4) for the
tests: it refuses what Prometheus would refuse (bad names, bad escapes,
samples of undeclared or repeated families, non-cumulative histograms, a
+Inf bucket that is not the count) and returns the samples. When Debian's
python3-prometheus-client is there, its parser must read the text too."""
import math
import re

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r"(?:[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[+-]Inf|NaN)"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL}={LABEL_VALUE})(?:,{LABEL}={LABEL_VALUE})*)?\}})? ({VALUE})$")
PAIR = re.compile(rf"({LABEL})=({LABEL_VALUE})")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class FormatError(AssertionError):
    pass


def _unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v[1:-1])


def parse(text):
    """{(name, frozenset(labels.items())): value} of every sample, and
    {family: type}. Raises FormatError on anything not well formed."""
    if text and not text.endswith("\n"):
        raise FormatError("the text does not end with a newline")
    samples, types, helps = {}, {}, set()
    current = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            m = re.match(rf"^# HELP ({NAME}) (.*)$", line)
            if not m or m.group(1) in helps:
                raise FormatError(f"line {n}: bad or repeated HELP: {line!r}")
            if re.search(r"\\[^\\n]", m.group(2)):
                raise FormatError(f"line {n}: bad escape in HELP")
            helps.add(m.group(1))
            continue
        if line.startswith("# TYPE "):
            m = re.match(rf"^# TYPE ({NAME}) (\w+)$", line)
            if not m or m.group(2) not in TYPES or m.group(1) in types:
                raise FormatError(f"line {n}: bad or repeated TYPE: {line!r}")
            current = m.group(1)
            types[current] = m.group(2)
            continue
        if line.startswith("#") or not line:
            raise FormatError(f"line {n}: unexpected line {line!r}")
        m = SAMPLE.match(line)
        if not m:
            raise FormatError(f"line {n}: not a sample: {line!r}")
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        family = name
        if current and types[current] == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                if name == current + suffix:
                    family = current
        if family != current:
            raise FormatError(f"line {n}: sample {name} outside its family's block")
        pairs = PAIR.findall(labels)
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise FormatError(f"line {n}: repeated label")
        if types[current] == "histogram" and name.endswith("_bucket") and "le" not in keys:
            raise FormatError(f"line {n}: bucket without le")
        key = (name, frozenset((k, _unescape(v)) for k, v in pairs))
        if key in samples:
            raise FormatError(f"line {n}: repeated series {line!r}")
        samples[key] = float(value.replace("Inf", "inf"))
    _check_histograms(samples, types)
    _check_with_client(text)
    return samples, types


def _check_histograms(samples, types):
    for family, kind in types.items():
        if kind != "histogram":
            continue
        series = {}
        for (name, labels), v in samples.items():
            if name == family + "_bucket":
                d = dict(labels)
                le = float(d.pop("le").replace("Inf", "inf"))
                series.setdefault(frozenset(d.items()), []).append((le, v))
        for labels, buckets in series.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            if counts != sorted(counts):
                raise FormatError(f"{family}{dict(labels)}: buckets not cumulative")
            if not math.isinf(buckets[-1][0]):
                raise FormatError(f"{family}{dict(labels)}: no +Inf bucket")
            if samples.get((family + "_count", labels)) != counts[-1]:
                raise FormatError(f"{family}{dict(labels)}: +Inf bucket is not the count")
            if (family + "_sum", labels) not in samples:
                raise FormatError(f"{family}{dict(labels)}: no sum")


def _check_with_client(text):
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        return
    list(text_string_to_metric_families(text))


def value(samples, name, **labels):
    """A sample's value, 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
