"""Feature services, one per model version (``<model>_v<N>``)."""

from feast import FeatureService
from features import item_realtime, item_stats, item_text_embedding, user_realtime, user_stats

from lambdarec_contracts.features import RANKER_SERVICE, RETRIEVAL_SERVICE

retrieval_v1 = FeatureService(
    name=RETRIEVAL_SERVICE,
    features=[user_stats, item_stats, item_text_embedding],
    description="Two-tower retrieval v1: query tower (user stats, history), candidate tower (item stats, text).",
    owner="data-team@lambdarec",
    tags={"model": "retrieval", "version": "1"},
)

ranker_v1 = FeatureService(
    name=RANKER_SERVICE,
    features=[user_stats, item_stats, item_text_embedding, user_realtime, item_realtime],
    description="Ranking model v1: batch user/item features, text embedding and real-time counters.",
    owner="data-team@lambdarec",
    tags={"model": "ranker", "version": "1"},
)
