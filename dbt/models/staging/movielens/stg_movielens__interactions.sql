with

source as (

    select * from {{ source('movielens', 'interactions') }}

),

-- Exact copies of a row are one interaction recorded twice; the source's exact_duplicate_rows
-- test (severity warn) reports how many are dropped here.
deduplicated as (

    select distinct * from source

),

renamed as (

    select
        {{ interaction_id('trim(user_id)', 'trim(item_id)', 'lower(trim(event_type))', 'event_ts') }}
            as interaction_id,
        trim(user_id) as user_id,
        trim(item_id) as item_id,
        cast(rating as double) as rating,
        lower(trim(event_type)) as event_type,
        cast(event_ts as timestamptz) as event_ts

    from deduplicated

)

select * from renamed
