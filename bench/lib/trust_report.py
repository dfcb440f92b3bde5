"""The trust benchmark's table: one row per measurement and case, from the median numbers."""

from __future__ import annotations

from lib.trust_runs import Numbers

OLD = "6615a64"


def _s(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _ms(value: float) -> str:
    return f"{value * 1000:.0f}"


def _bytes(value: float) -> str:
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def _run(n: Numbers, name: str) -> str:
    text = f"{_s(n[name + '_s'])}, CPU {_s(n[name + '_cpu_s'])}"
    if name + "_node_cpu_s" in n:
        text += f" (node side {_s(n[name + '_node_cpu_s'])})"
    if name + "_bytes" in n:
        text += f", {_bytes(n[name + '_bytes'])} on the wire"
    return text


def markdown(result: dict[str, Numbers], files: int, burst: int, changes: int) -> str:
    rows = ["| measurement | case | inosync | for comparison |", "|---|---|---|---|"]

    def row(what: str, case: str, value: str, other: str = "-") -> None:
        rows.append(f"| {what} | {case} | {value} | {other} |")

    for kind in ("local", "ssh"):
        for state, label in (("insync", "node in sync"), ("empty", "empty node")):
            if (n := result.get(f"count/{kind}/{state}")) is not None:
                row(f"bounded full sync at start-up, {files:,} files", f"{kind}, {label}",
                    _full(n))
    for kind in ("local", "ssh"):
        if (n := result.get(f"verify/{kind}")) is not None:
            row(f"one verification (`inosync verify`), {files:,} files", kind,
                _run(n, "verify"), "`rsync -an --delete`: " + _run(n, "plain"))
    for kind in ("local", "ssh"):
        if (n := result.get(f"latency/{kind}/plain")) is not None:
            row("lone write to visible, p50 / p95 (ms)", f"{kind}, no verification",
                f"{_ms(n['p50_s'])} / {_ms(n['p95_s'])} (max {_ms(n['max_s'])})")
        if (n := result.get(f"latency/{kind}/verify")) is not None:
            parts = [f"{_ms(n['p50_s'])} / {_ms(n['p95_s'])} (max {_ms(n['max_s'])})"]
            for group, label in (("during", "written during one"), ("outside", "between")):
                if f"{group}_p50_s" in n:
                    count = n["during"] if group == "during" else n["writes"] - n["during"]
                    parts.append(f"the {count:.0f} {label}: {_ms(n[f'{group}_p50_s'])} / "
                                 f"{_ms(n[f'{group}_p95_s'])}")
            row("lone write to visible, p50 / p95 (ms)",
                f"{kind}, verifications back to back", "; ".join(parts),
                f"a verification takes {_s(n['verify_median_s'])}, running "
                f"{n['busy_share']:.0%} of the time; {n['drift_reports']:.0f} drift reports")
    outages = sorted({float(name.split("/")[1]) for name in result if name.startswith("return/")})
    for outage in outages:
        new, old = (result.get(f"return/{outage:g}/{label}") for label in ("new", "old"))
        if new is None:
            continue
        row(f"ssh node down {outage:g} s, {changes} changes meanwhile", "ssh",
            _return(new), f"{OLD}: {_return(old)}" if old else "-")
    new, old = result.get("status/new"), result.get("status/old")
    if new is not None:
        row(f"STATUS messages during a burst of {burst:,} files", "local", _status(new),
            f"{OLD}: {_status(old)}" if old else "-")
    return "\n".join(rows)


def _full(n: Numbers) -> str:
    text = f"{_s(n['full_s'])} in {n['runs']:.0f} rsync run{'s' if n['runs'] != 1 else ''}"
    if "count_s" in n:
        text += f", {_s(n['count_s'])} of it a counting dry run ({n['share']:.0%})"
    return text + f"; ready {_s(n['ready_s'])} after the start"


def _return(n: Numbers) -> str:
    return (f"in sync {_s(n['converge_s'])} after the sshd's return; {n['connects']:.0f} "
            f"connects while down ({n['connects_per_s']:.1f}/s)")


def _status(n: Numbers) -> str:
    return (f"at most {n['max_per_s']:.0f} in any 1 s (closest two "
            f"{n['min_gap_s'] * 1000:.0f} ms apart), {n['total']:.0f} in "
            f"{_s(n['window_s'])} (burst written in {_s(n['burst_s'])}, on the node "
            f"{_s(n['converge_s'])} after it began)")
