"""Alembic migrations, shipped in the package and run by ``flexgrpc.db.migrate``.

This is a package (not just a folder) so that ``env.py`` is installed with the distribution.
Revisions are hand-written, numbered ``NNNN_<topic>.py``, and describe the schema as it was at
that revision; they never import ``flexgrpc.db.models``.
"""
