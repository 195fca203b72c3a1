"""The load step: everything per-request about the user, from Redis, in one round trip.

Cache generation, seen and not-interested sets, the recent list and the user's Feast features
(batch and real-time views share one Feast hash) are queued on one pipeline together with
whatever else the request needs from the store in that trip (the trending windows when the
per-process copy is stale). The pure pipeline then works on the ``UserState`` alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lambdarec_contracts import features as fc
from lambdarec_contracts import redis_keys, user_history
from lambdarec_contracts.feature_vectors import USER_VECTOR_FEATURE_REFS
from lambdarec_contracts.user_state import UserStateLimits, queue_filter_reads

from .online_features import OnlineFeatureReader
from .pipeline.context import UserState
from .store import Store


def user_feature_refs() -> list[str]:
    """The model's user vector plus the histories ``UserState`` reads (the contracts' named refs)."""
    return [
        *USER_VECTOR_FEATURE_REFS,
        fc.USER_RECENT_ITEMS,
        fc.USER_RECENT_POSITIVE_ITEMS,
        fc.USER_RT_RECENT_ITEMS,
    ]


USER_FEATURE_REFS = user_feature_refs()  # as the contracts stand (benchmarks compare with Feast)
_N_USER_COMMANDS = 6


class UserStateLoader:
    def __init__(self, store: Store, limits: UserStateLimits | None = None) -> None:
        self.store = store
        self.limits = limits or UserStateLimits()
        self.reader = OnlineFeatureReader(fc.FEAST_PROJECT, fc.USER_JOIN_KEY, user_feature_refs())

    def _queue(self, p: Any, user_id: str) -> None:
        p.get(redis_keys.rec_cache_generation(user_id))
        # seen and not interested (bounded ZSETs of the speed layer), then the batch full history
        queue_filter_reads(p, user_id, self.limits)
        p.get(redis_keys.user_history(user_id))
        p.lrange(redis_keys.recent_items(user_id), 0, redis_keys.RECENT_ITEMS_MAX_LEN - 1)
        self.reader.queue(p, [user_id])

    def _decode(self, replies: Sequence[Any]) -> UserState:
        gen, seen, neg, hist, recent, feats = replies
        return UserState(
            generation=int(gen or 0),
            seen={s.decode() for s in seen} | user_history.decode(hist),
            not_interested={s.decode() for s in neg},
            recent=[r.decode() for r in recent],
            features=self.reader.decode([feats])[0],
        )

    def _queue_all(self, user_id: str, extra: Callable[[Any], None] | None) -> Callable[[Any], None]:
        def queue(p: Any) -> None:
            self._queue(p, user_id)
            if extra is not None:
                extra(p)

        return queue

    def load(self, user_id: str, extra: Callable[[Any], None] | None = None) -> tuple[UserState, list[Any]]:
        """One pipelined round trip; returns the state and the replies of ``extra``'s commands.

        Raises StoreUnavailable (the caller degrades).
        """
        replies = self.store.commands(self._queue_all(user_id, extra))
        return self._decode(replies[:_N_USER_COMMANDS]), replies[_N_USER_COMMANDS:]

    async def load_async(
        self, user_id: str, extra: Callable[[Any], None] | None = None
    ) -> tuple[UserState, list[Any]]:
        """``load`` with the round trip awaited on the event loop (other requests run meanwhile)."""
        replies = await self.store.commands_async(self._queue_all(user_id, extra))
        return self._decode(replies[:_N_USER_COMMANDS]), replies[_N_USER_COMMANDS:]
