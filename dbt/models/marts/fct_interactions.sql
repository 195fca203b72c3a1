with

ratings as (

    select * from {{ ref('stg_movielens__interactions') }}

),

landed_events as (

    select * from {{ ref('stg_speed_layer__events') }}

),

items as (

    select * from {{ ref('stg_movielens__items') }}

),

-- Landed events keep their event_id as key. Events on items the catalogue does not know are left
-- out (counted by a warn test on stg_speed_layer__events): one bad client must not stop the batch.
known_item_events as (

    select
        landed_events.event_id as interaction_id,
        landed_events.user_id,
        landed_events.item_id,
        case when landed_events.event_type = 'rating' then landed_events.value end as rating,
        landed_events.event_type,
        landed_events.event_ts

    from landed_events
    where landed_events.item_id in (select items.item_id from items)

),

tombstones as (

    select * from {{ ref('stg_serving__tombstones') }}

),

unioned as (

    select interaction_id, user_id, item_id, rating, event_type, event_ts from ratings
    union all
    select interaction_id, user_id, item_id, rating, event_type, event_ts from known_item_events

),

-- Forgotten users (DELETE /v1/users/{id}): nothing up to the deletion reaches the marts, so
-- features, histories and training sets built from them no longer hold it. Later events stay.
remembered as (

    select unioned.*
    from unioned
    left join tombstones
        on unioned.user_id = tombstones.user_id
    where tombstones.user_id is null or unioned.event_ts > tombstones.deleted_at

),

final as (

    select
        interaction_id,
        user_id,
        item_id,
        rating,
        event_type,
        event_ts,
        cast(timezone('UTC', event_ts) as date) as event_date,
        coalesce(rating >= {{ var('positive_rating') }}, false)
        or event_type in ('{{ var("positive_event_types") | join("', '") }}') as is_positive

    from remembered

)

select * from final
