"""`jointpool sync`: the broadcasters' nightly mirror of what they have licensed (HTTP only).

It talks to the catalog API (`/v1/changes`, `/v1/licensed-assets`, `/v1/assets/{id}/download`)
and to the presigned object-storage URLs the API hands out; it never touches the database.
"""
