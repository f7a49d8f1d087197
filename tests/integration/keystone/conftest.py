"""A real Keystone for the session: ``scripts/keystone.sh install`` + ``start``.

The first run on a machine installs Keystone into its own venv (about a minute) and sets up its
data (about 12 s); later runs find it running or restart it in about 2 s. A Keystone this session
started is stopped at its end; one that was already running is left running. When the install
or start fails (no network, say) the tests error out: they are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.keystone.harness import KeystoneHarness, keystone_url, run_script


def _run(command: str) -> None:
    done = run_script(command)
    if done.returncode != 0:
        pytest.fail(
            f"scripts/keystone.sh {command} failed ({done.returncode}):\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def keystone() -> Iterator[KeystoneHarness]:
    """The harness of a running, provisioned Keystone on 127.0.0.1 (``$KEYSTONE_PORT``)."""
    already_running = run_script("status", timeout=30).returncode == 0
    _run("install")
    _run("start")
    harness = KeystoneHarness(keystone_url())
    try:
        yield harness
    finally:
        harness.close()
        if not already_running:
            run_script("stop", timeout=60)
