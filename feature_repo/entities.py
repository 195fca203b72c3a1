"""Entities: the user and the item, keyed by their string ids."""

from feast import Entity
from feast.value_type import ValueType

from lambdarec_contracts.features import ITEM_ENTITY, ITEM_JOIN_KEY, USER_ENTITY, USER_JOIN_KEY

user = Entity(
    name=USER_ENTITY,
    join_keys=[USER_JOIN_KEY],
    value_type=ValueType.STRING,
    description="A person receiving recommendations (id as in the source data, a string).",
    owner="data-team@lambdarec",
    tags={"team": "recsys"},
)

item = Entity(
    name=ITEM_ENTITY,
    join_keys=[ITEM_JOIN_KEY],
    value_type=ValueType.STRING,
    description="A catalogue item (id as in the source data, a string).",
    owner="data-team@lambdarec",
    tags={"team": "recsys"},
)
