with

-- A forgotten user's profile is dropped; if they came back, their row is rebuilt from the
-- activity after the deletion, with unknown demographics (fct_interactions keeps only that).
users as (

    select * from {{ ref('stg_movielens__users') }}
    where user_id not in (select user_id from {{ ref('stg_serving__tombstones') }})

),

interactions as (

    select * from {{ ref('fct_interactions') }}

),

activity as (

    select
        user_id,
        min(event_ts) as first_seen_ts,
        max(event_ts) as last_seen_ts,
        count(*) as n_interactions

    from interactions
    group by user_id

),

-- Users who only appear in interactions (new sign-ups seen by the speed layer, sources without a
-- users file) still get a row, with unknown demographics.
all_user_ids as (

    select user_id from users
    union
    select user_id from activity

),

final as (

    select
        all_user_ids.user_id,
        users.gender,
        users.age,
        users.occupation,
        users.zip_code,
        activity.first_seen_ts,
        activity.last_seen_ts,
        coalesce(activity.n_interactions, 0) as n_interactions

    from all_user_ids
    left join users
        on all_user_ids.user_id = users.user_id
    left join activity
        on all_user_ids.user_id = activity.user_id

)

select * from final
