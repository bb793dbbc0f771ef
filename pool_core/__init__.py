"""The pool's domain: settings, models, storage, job queue and services."""
