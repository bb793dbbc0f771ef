"""The programme catalog: titles, seasons, episodes, the catalog view of assets, screening.

Visibility: an organization sees all of its own titles and assets, and of the others only
published titles and the assets linked to them. Writing is for the owner's admins and
editors. Every write is audited and recorded in the change feed.
"""
