"""Statement parameters (location URLs may carry credentials) never reach errors or logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from spyglass.db.engine import create_database
from tests.databases import BACKENDS, drop_database, fresh_database

SECRET = "swift://account:s3cr3t-key@swift.example/v1/glance/image"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_parameters_are_hidden(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, name = await fresh_database(backend, tmp_path)
    database = create_database(url)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    try:
        with pytest.raises(DBAPIError) as failed:
            await database.run(
                lambda s: s.execute(
                    text("SELECT no_such_column FROM x WHERE y = :v"), {"v": SECRET}
                )
            )
        assert SECRET not in str(failed.value)
        assert "s3cr3t" not in caplog.text
    finally:
        await database.dispose()
        await drop_database(backend, name)
