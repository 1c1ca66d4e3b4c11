"""Developer entry for the ``alembic`` command: runs the environment shipped in the package."""

import runpy

runpy.run_module("flychat.adapters.sql.migrations.env", run_name="__main__")
