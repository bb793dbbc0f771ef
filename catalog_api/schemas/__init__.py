"""API schemas (pydantic), separate from the ORM models in `pool_core.models`."""
