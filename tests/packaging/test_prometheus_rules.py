"""The shipped alerting rules: valid for Prometheus (promtool check), firing when they should
(promtool test: a daemon gone, a file left behind by a killed one, a node failing or behind),
and naming only metrics the daemon writes, with its label."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from inosync.report.node_facts import NodeFacts
from inosync.report.views import INSTANCE_LABEL, Instance, metrics_text

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "etc" / "inosync.rules.yml"
RULE_TESTS = REPO / "tests" / "prometheus" / "inosync.rules.test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is not installed - run: bash scripts/setup test")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO)


def test_the_rules_are_valid() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_fire_for_a_dead_daemon_a_stale_file_and_bad_nodes() -> None:
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_name_only_metrics_the_daemon_writes() -> None:
    text = metrics_text(Instance("www", "", "", 1, 0.0), [NodeFacts("web1", "web1:", "ssh")],
                        0.0)
    families = list(text_string_to_metric_families(text))
    written = {sample.name for family in families for sample in family.samples}
    used = set(re.findall(r"\binosync_[a-z_]+\b", RULES.read_text())) - {INSTANCE_LABEL}
    assert used and used <= written, used - written
    labels = {key for family in families for sample in family.samples for key in sample.labels}
    assert labels == {INSTANCE_LABEL, "node"}  # never "instance": the scrape owns that one
