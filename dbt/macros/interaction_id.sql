{#
  Key of an interaction without one of its own (ratings and events from the landing tables):
  md5 of "user_id|item_id|event_type|event_ts", event_ts written as UTC ISO-8601 with microseconds,
  e.g. md5('42|1193|rating|2000-12-31T22:12:40.000000Z'). Any component can recompute it.
#}
{% macro interaction_id(user_id, item_id, event_type, event_ts) %}
    md5(
        {{ user_id }} || '|' || {{ item_id }} || '|' || {{ event_type }} || '|'
        || strftime(timezone('UTC', {{ event_ts }}), '%Y-%m-%dT%H:%M:%S.%fZ')
    )
{% endmacro %}
