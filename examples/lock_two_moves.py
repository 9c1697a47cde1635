"""Hold the carousel for a sequence of moves: lock, two moves, unlock.

    export PREFECT_API_URL=http://127.0.0.1:4200/api      # and PREFECT_API_AUTH_STRING / PREFECT_API_KEY if set
    python examples/lock_two_moves.py

Every run_deployment inside this flow is a child run of it; the plate-resort bridge sends each
child's command with lock_id = this flow run's id. So after lock/lock, this flow's moves pass
and anyone else's motion on the carousel is refused with "locked" until unlock/unlock runs or
timeout_s passes (the agent releases it by itself). Emergency stop and reads are never refused.
Needs an agent that offers the lock command (it is listed in <prefix>/<device>/info).
"""
from prefect import flow
from prefect.deployments import run_deployment


def run(name, **parameters):
    fr = run_deployment(name, parameters=parameters, timeout=300)
    if not fr.state.is_completed():
        raise RuntimeError(f"{name}: {fr.state.name}: {fr.state.message}")
    return fr.state.result()


@flow
def two_moves_under_lock(first: float = 30.0, second: float = 45.0, timeout_s: int = 120):
    run("lock/lock", timeout_s=timeout_s)
    try:
        a = run("move-to-angle/move-to-angle", angle=first)
        b = run("move-to-angle/move-to-angle", angle=second)
    finally:
        run("unlock/unlock")  # also after a failed move; the timeout is the last resort
    return {"first": a, "second": b}


if __name__ == "__main__":
    print(two_moves_under_lock())
