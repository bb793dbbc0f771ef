"""Transcoding workers: probe, one-pass proxies, storyboard and broadcast QC.

transcode.worker.build_handlers(settings, db, storage)   job kind "transcode"
transcode.worker.run_worker(settings, db, storage, stop)  a standalone worker loop
transcode.service.requeue_transcode(session, asset_id=)   transcode again
"""
