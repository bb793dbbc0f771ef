"""Subtitle files: which file is whose track (`naming`), reading every exchange format into
cues and WebVTT (`convert`), and the QC findings of a track (`qc`).

Pure functions on names and bytes; storing tracks is `pool_core.services.subtitles`.
"""
