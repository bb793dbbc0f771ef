"""GET /v1/search must not spell out words of titles the caller may not see (issue 15, 1).

The typo vocabulary is shared by every member; the `terms[].typo_variants` of an answer once
came straight from it, so another member's draft (its title, synopsis, keywords, people or
house number), a deleted title or an unpublished one could be read back by probing with a
word one typo away.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import Members


def create(client: TestClient, members: Members, org: str, body: dict[str, Any]) -> str:
    """Create a title over the API; return its id."""
    response = client.post("/v1/titles", json=body, headers=members.headers(org))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def probe(client: TestClient, members: Members, org: str, query: str) -> tuple[list[str], int]:
    """The typo variants offered for the one-word `query`, and how many titles it found."""
    response = client.get("/v1/search", params={"q": query}, headers=members.headers(org))
    assert response.status_code == 200, response.text
    body = response.json()
    [term] = body["terms"]
    return term["typo_variants"], body["total"]


@pytest.mark.parametrize(
    ("fields", "probe_word", "secret"),
    [
        ({"original_title": "Zarathustra"}, "zarathustro", "zarathustra"),
        (
            {"localizations": {"en": {"title": "Plain", "synopsis": "the mephistopheles pact"}}},
            "mephistopheleq",
            "mephistopheles",
        ),
        ({"keywords": ["quetzalcoatl"]}, "quetzalcoatp", "quetzalcoatl"),
        ({"contributors": [{"name": "Nebuchadnezzar Brown"}]}, "nebucadnezzaq", "nebucadnezzar"),
        ({"external_id": "HOUSEWORDZULU"}, "housewordzulo", "housewordzulu"),
    ],
    ids=["title", "synopsis", "keyword", "contributor", "external-id"],
)
def test_another_members_draft_words_are_not_offered_as_typo_variants(
    api_client: TestClient,
    members: Members,
    fields: dict[str, Any],
    probe_word: str,
    secret: str,
) -> None:
    body = {"kind": "film", "original_title": "Plain", "status": "draft", **fields}
    create(api_client, members, "kztv", body)

    variants, total = probe(api_client, members, "uztv", probe_word)
    assert secret not in variants
    assert total == 0
    # The owner may see their own draft, typo included.
    variants, total = probe(api_client, members, "kztv", probe_word)
    assert secret in variants
    assert total == 1


def test_of_two_variants_only_the_one_a_visible_title_holds_is_offered(
    api_client: TestClient, members: Members
) -> None:
    create(api_client, members, "kztv", {"kind": "film", "original_title": "Marlowe"})
    create(
        api_client,
        members,
        "kztv",
        {"kind": "film", "original_title": "Marlows", "status": "draft"},
    )
    # Both words are one edit from the probe and checked in one statement, each on its own.
    assert probe(api_client, members, "uztv", "marlowx") == (["marlowe"], 1)
    assert probe(api_client, members, "kztv", "marlowx") == (["marlowe", "marlows"], 2)


def test_a_deleted_titles_words_are_not_offered(api_client: TestClient, members: Members) -> None:
    title_id = create(api_client, members, "kztv", {"kind": "film", "original_title": "Wanderlust"})
    assert probe(api_client, members, "uztv", "wanderlusp") == (["wanderlust"], 1)

    deleted = api_client.delete(f"/v1/titles/{title_id}", headers=members.headers("kztv"))
    assert deleted.status_code == 204, deleted.text

    for org in ("uztv", "kztv"):
        assert probe(api_client, members, org, "wanderlusp") == ([], 0)


def test_a_renamed_titles_old_words_are_not_offered(
    api_client: TestClient, members: Members
) -> None:
    title_id = create(api_client, members, "kztv", {"kind": "film", "original_title": "Codename"})
    renamed = api_client.patch(
        f"/v1/titles/{title_id}",
        json={"original_title": "Harmless"},
        headers=members.headers("kztv"),
    )
    assert renamed.status_code == 200, renamed.text
    for org in ("uztv", "kztv"):
        assert probe(api_client, members, org, "codenamo") == ([], 0)


def test_an_unpublished_titles_words_are_no_longer_offered(
    api_client: TestClient, members: Members
) -> None:
    title_id = create(
        api_client, members, "kztv", {"kind": "film", "original_title": "Kaleidoscope"}
    )
    assert probe(api_client, members, "uztv", "kaleidoscopo") == (["kaleidoscope"], 1)

    unpublished = api_client.patch(
        f"/v1/titles/{title_id}", json={"status": "draft"}, headers=members.headers("kztv")
    )
    assert unpublished.status_code == 200, unpublished.text

    assert probe(api_client, members, "uztv", "kaleidoscopo") == ([], 0)
    assert probe(api_client, members, "kztv", "kaleidoscopo") == (["kaleidoscope"], 1)


def test_a_word_shared_with_a_published_title_is_still_offered(
    api_client: TestClient, members: Members
) -> None:
    create(api_client, members, "kztv", {"kind": "film", "original_title": "Sunflower secret"})
    create(api_client, members, "uztv", {"kind": "film", "original_title": "Sunflower"})
    # uztv's own published title holds the word: offering it tells uztv nothing new.
    assert probe(api_client, members, "kztv", "sunflowep") == (["sunflower"], 2)
    create(
        api_client,
        members,
        "kztv",
        {"kind": "film", "original_title": "Sunflowes", "status": "draft"},
    )
    variants, total = probe(api_client, members, "uztv", "sunflowep")
    assert variants == ["sunflower"]
    assert total == 2
