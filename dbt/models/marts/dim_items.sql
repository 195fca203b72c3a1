with

items as (

    select * from {{ ref('stg_movielens__items') }}

),

interactions as (

    select * from {{ ref('fct_interactions') }}

),

first_seen as (

    select
        item_id,
        min(event_ts) as first_seen_ts

    from interactions
    group by item_id

),

final as (

    select
        items.item_id,
        items.title,
        items.genres,
        items.year,
        items.tags,
        items.description,
        first_seen.first_seen_ts

    from items
    left join first_seen
        on items.item_id = first_seen.item_id

)

select * from final
