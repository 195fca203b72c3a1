"""Feature references and full names come from one helper pair, checked against the contracts."""

from __future__ import annotations

import pytest

from lambdarec_contracts import features as f
from lambdarec_contracts.feature_vectors import ITEM_VECTOR_FEATURE_REFS, USER_VECTOR_FEATURE_REFS


def test_both_spellings_of_one_feature() -> None:
    assert f.feature_ref(f.USER_STATS_VIEW, "recent_items") == "user_stats:recent_items"
    assert f.full_name(f.USER_STATS_VIEW, "recent_items") == "user_stats__recent_items"
    assert f.ref_to_full_name(f.USER_RT_RECENT_ITEMS) == "user_realtime__rt_recent_items"
    assert f.split_ref(f.ITEM_TEXT_EMBEDDING) == ("item_text_embedding", "embedding")


def test_a_feature_the_contracts_do_not_define_is_refused() -> None:
    with pytest.raises(KeyError, match="no feature 'recent_itemz'"):
        f.feature_ref(f.USER_STATS_VIEW, "recent_itemz")
    with pytest.raises(KeyError):
        f.full_name(f.USER_REALTIME_VIEW, "recent_items")  # right feature, wrong view
    with pytest.raises(ValueError, match="not a feature reference"):
        f.split_ref("user_stats__recent_items")


def test_every_vector_reference_names_a_contract_column() -> None:
    for ref in USER_VECTOR_FEATURE_REFS + ITEM_VECTOR_FEATURE_REFS:
        view, feature = f.split_ref(ref)
        assert f.feature_ref(view, feature) == ref


@pytest.mark.redis
def test_serving_reads_the_features_the_contract_names(redis_server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Serving's user state asks the contracts which features hold the user's histories: when the
    contract renames one, serving fetches the new feature from Feast's hash and uses it."""
    import redis

    from serving.store import Store
    from serving.user_state import UserStateLoader
    from tests.serving.feast_layout import write_entity

    client = redis.Redis.from_url(redis_server.url)
    write_entity(
        client,
        f.USER_JOIN_KEY,
        "u1",
        f.USER_STATS_VIEW,
        {"recent_positive_items": ["a", "b"], "recent_items": ["c", "a"], "recent_liked_items": ["x"]},
    )
    write_entity(client, f.USER_JOIN_KEY, "u1", f.USER_REALTIME_VIEW, {"rt_recent_items": ["z"]})
    store = Store(redis_server.url, socket_timeout_s=0.5, backoff_s=0.0)
    try:
        state, _ = UserStateLoader(store).load("u1")
        assert state.recent_positive == ["a", "b"]
        assert state.history == ["z", "c", "a"]
        # The contract renames the column the "because you liked" anchors come from.
        monkeypatch.setitem(f.USER_FEATURES, "recent_liked_items", "array<string>")
        monkeypatch.setattr(
            f, "USER_RECENT_POSITIVE_ITEMS", f.feature_ref(f.USER_STATS_VIEW, "recent_liked_items")
        )
        state, _ = UserStateLoader(store).load("u1")
        assert state.recent_positive == ["x"]
        assert state.history == ["z", "c", "a"]  # the other refs did not move
    finally:
        store.close()
        client.close()
