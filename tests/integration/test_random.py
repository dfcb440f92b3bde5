"""A seeded random workload; replay a failure with INOSYNC_SEED=<seed> (and the test id)."""

from __future__ import annotations

import os
import random

import pytest
from helpers import TreeMutator

# More rounds or node kinds for a bug hunt: INOSYNC_RANDOM_ROUNDS=10 INOSYNC_RANDOM_KINDS=rsyncd
# ("restricted" is an ssh node whose key is forced into rrsync).
ROUNDS = int(os.environ.get("INOSYNC_RANDOM_ROUNDS") or 2)
KINDS = (os.environ.get("INOSYNC_RANDOM_KINDS") or "local,ssh,restricted").split(",")


def _seed(round_: int) -> int:
    env = os.environ.get("INOSYNC_SEED")
    return int(env) if env else random.SystemRandom().randrange(1 << 32) + round_


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("pace", ["burst", "paced"])
@pytest.mark.parametrize("node_kind", KINDS)
def test_random_operations_converge(mirror, tmp_path, request, pace, round_, node_kind) -> None:
    seed = _seed(round_)
    request.node.inosync_seed = seed
    rng = random.Random(seed)
    m = mirror(verify_interval=1)  # verifying all the while: no false drift allowed
    mut = TreeMutator(m.src, tmp_path / "outside", rng)
    mut.run(40)  # an initial tree for the start-up sync
    m.start()
    failure = None
    try:
        m.converge(what="initial tree")
        if pace == "burst":
            mut.run(300)
        else:
            mut.run(200, pause=0.05, pause_chance=0.3)
        m.converge(timeout=45, what=f"after {len(mut.history)} random operations")
        assert m.daemon is not None
        m.daemon.wait_log(lambda text: text.count("verified: no drift") >= 2, 15,
                          "verifications of the converged node")
        drift = [ln for ln in m.daemon.log().splitlines() if "verification found drift" in ln]
        if drift:
            pytest.fail(f"false drift while the node was kept right: {drift[:3]}")
    except pytest.fail.Exception as e:
        failure = str(e)
    if failure is not None:
        (tmp_path / "operations.txt").write_text("\n".join(mut.history) + "\n")
        recent = "\n  ".join(mut.history[-25:])
        pytest.fail(f"INOSYNC_SEED={seed} ({node_kind}, {pace}): {failure}\n"
                    f"all operations: {tmp_path / 'operations.txt'}\n"
                    f"last operations:\n  {recent}", pytrace=False)
    print(f"INOSYNC_SEED={seed} {node_kind} {pace}: {len(mut.history)} operations converged")
