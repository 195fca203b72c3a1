{#
  The speed layer lands events only once it has run, so the landed-events glob can match no file;
  read_parquet() then fails at bind time (see files_exist.sql). These macros let
  stg_speed_layer__events pick, at run time, between the source and an empty relation of the same
  schema (LANDED_EVENTS_COLUMNS).
#}

{% macro landed_events_glob() %}
    {#- Same pattern as the external_location of source speed_layer.landed_events. -#}
    {{ return(env_var('LAMBDAREC_DATA_DIR') ~ '/events/landed/**/*.parquet') }}
{% endmacro %}

{% macro landed_event_files_exist() %}
    {{ return(files_exist(landed_events_glob())) }}
{% endmacro %}

{% macro empty_landed_events() %}
    select
        null::varchar as event_id,
        null::varchar as user_id,
        null::varchar as item_id,
        null::varchar as event_type,
        null::double as value,
        null::timestamptz as event_ts,
        null::timestamptz as ingested_at
    where false
{% endmacro %}
