import uuid

from flychat.bootstrap import new_provisional_id
from flychat.domain.model import validate_provisional_id


def test_server_ids_are_random_version_4_uuids_in_canonical_text() -> None:
    ids = [new_provisional_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert validate_provisional_id(text) == text
    assert {text[19] for text in ids} == set("89ab")
