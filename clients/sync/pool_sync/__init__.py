"""`jointpool-sync`: the broadcasters' nightly mirror of what they have licensed (HTTP only).

Its own distribution (clients/sync, dependencies httpx and pydantic), for Linux and Windows;
the server's `jointpool sync` delegates to it. It talks to the catalog API (`/v1/changes`,
`/v1/licensed-assets`, `/v1/assets/{id}/download`) and to the presigned object-storage URLs
the API hands out; it never touches the database nor imports the server's packages.
"""
