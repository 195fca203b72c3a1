with

source as (

    select * from {{ source('movielens', 'users') }}

),

renamed as (

    select
        trim(user_id) as user_id,
        nullif(upper(trim(gender)), '') as gender,
        cast(age as integer) as age,
        nullif(trim(occupation), '') as occupation,
        nullif(trim(zip_code), '') as zip_code

    from source

)

select * from renamed
