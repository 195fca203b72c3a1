with

source as (

    {% if tombstone_files_exist() %}
    select * from {{ source('serving', 'tombstones') }}
    {% else %}
    {{ empty_tombstones() }}
    {% endif %}

),

renamed as (

    select
        trim(user_id) as user_id,
        cast(deleted_at as timestamptz) as deleted_at

    from source

),

-- A user forgotten more than once: the latest deletion covers everything before it.
latest as (

    select user_id, max(deleted_at) as deleted_at
    from renamed
    group by user_id

)

select * from latest
