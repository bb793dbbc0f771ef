"""Streaming, resumable uploads into S3: leases, part plan, memory budget and the writer.

The public entry points are re-exported by `pool_core.uploads.service`.
"""
