with

source as (

    {% if landed_event_files_exist() %}
    select * from {{ source('speed_layer', 'landed_events') }}
    {% else %}
    {{ empty_landed_events() }}
    {% endif %}

),

renamed as (

    select
        trim(event_id) as event_id,
        trim(user_id) as user_id,
        trim(item_id) as item_id,
        lower(trim(event_type)) as event_type,
        cast(value as double) as value,
        cast(event_ts as timestamptz) as event_ts,
        cast(ingested_at as timestamptz) as ingested_at

    from source

),

-- Delivery is at-least-once: an event can land more than once. Keep its first landing.
deduplicated as (

    select * from renamed
    qualify row_number() over (partition by event_id order by ingested_at, event_ts) = 1

)

select * from deduplicated
