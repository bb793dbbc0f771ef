"""The catalog API: FastAPI app over `pool_core` (titles, assets, search, screening, tokens)."""
