"""The daemons' log lines: one event per line of key=value fields
(src/base/log.h), e.g.

  ts=2026-12-02T04:42:15.123Z level=info prog=lepton-agent event=agent.pass kind=sync ms=3

Values with a space, '"', '=', '\\' or a control character come in double
quotes with '"' and '\\' escaped and control characters as \\xHH."""
import re

_FIELD = re.compile(r'([a-z0-9_.]+)=("(?:[^"\\]|\\.)*"|[^ "=\\]+)(?: |$)')


def parse(line):
    """The fields of one line as a dict, or None when the line is not a
    whole key=value line."""
    line = line.rstrip("\n")
    fields, pos = {}, 0
    while pos < len(line):
        m = _FIELD.match(line, pos)
        if not m:
            return None
        key, value = m.group(1), m.group(2)
        if value.startswith('"'):
            value = re.sub(r'\\(x[0-9a-f]{2}|.)',
                           lambda e: chr(int(e.group(1)[1:], 16)) if len(e.group(1)) == 3
                           else e.group(1), value[1:-1])
        if key in fields:
            return None
        fields[key] = value
        pos = m.end()
    return fields if "event" in fields else None


def events(path, event=None, offset=0):
    """The parsed lines of the log at path from byte offset on, only those of
    that event when given (lines that are not key=value are skipped)."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read().decode(errors="replace")
    out = []
    for line in data.splitlines():
        e = parse(line)
        if e and (event is None or e["event"] == event):
            out.append(e)
    return out
