"""FTP/FTPS ingress on pyftpdlib: authorizer, virtual filesystem, streaming upload.

Entry points: `pool_server.server.build_server` and `pool_server.server.run_ftp_server`.
"""
