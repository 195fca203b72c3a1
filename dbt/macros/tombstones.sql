{#
  Tombstones exist only once somebody was forgotten (DELETE /v1/users/{id}), so the glob can match
  no file (see files_exist.sql).
#}

{% macro tombstones_glob() %}
    {#- Same pattern as the external_location of source serving.tombstones. -#}
    {{ return(env_var('LAMBDAREC_DATA_DIR') ~ '/landing/tombstones/*.csv') }}
{% endmacro %}

{% macro tombstone_files_exist() %}
    {{ return(files_exist(tombstones_glob())) }}
{% endmacro %}

{% macro empty_tombstones() %}
    select null::varchar as user_id, null::timestamptz as deleted_at
    where false
{% endmacro %}
