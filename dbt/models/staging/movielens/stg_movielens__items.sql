{#- A trailing year, also a range or an open range: "Heat (1995)", "Babylon 5 (1993-1998)",
    "Cosmos (1980– )". Group 1 is the title without it, group 2 the (first) year. -#}
{%- set title_year_pattern = '^(.*?)\\s*\\((\\d{4})(?:\\s*[-–]\\s*(?:\\d{4})?\\s*)?\\)\\s*$' -%}

with

source as (

    select * from {{ source('movielens', 'items') }}

),

genres as (

    select * from {{ ref('genres') }}

),

genre_aliases as (

    select * from {{ ref('genre_aliases') }}

),

renamed as (

    select
        trim(item_id) as item_id,
        trim(title) as raw_title,
        coalesce(genres, '') as raw_genres,
        cast(year as integer) as year,
        -- The one place a title's year is read (ingest lands titles as the source writes them).
        nullif(regexp_extract(trim(title), '{{ title_year_pattern }}', 1), '') as title_stem,
        try_cast(nullif(regexp_extract(trim(title), '{{ title_year_pattern }}', 2), '') as integer)
            as title_year,
        coalesce(trim(tags), '') as tags,
        coalesce(trim(description), '') as description

    from source

),

raw_item_genres as (

    select
        item_id,
        trim(unnest(string_split(raw_genres, '|'))) as raw_genre

    from renamed

),

-- Aliases first ("Children's" -> "Children"), then the vocabulary; anything else is "(other)".
canonical_item_genres as (

    select distinct
        raw_item_genres.item_id,
        coalesce(genres.genre, other.genre) as genre,
        coalesce(genres.genre_position, other.genre_position) as genre_position

    from raw_item_genres
    left join genre_aliases
        on lower(raw_item_genres.raw_genre) = lower(genre_aliases.alias)
    left join genres
        on lower(coalesce(genre_aliases.genre, raw_item_genres.raw_genre)) = lower(genres.genre)
    cross join (
        select genre, genre_position from genres where genre = '{{ var("other_genre") }}'
    ) as other
    where raw_item_genres.raw_genre <> ''

),

item_genre_lists as (

    select
        item_id,
        -- vocabulary order, so equal sets of genres give equal lists
        list(genre order by genre_position) as genres

    from canonical_item_genres
    group by item_id

),

final as (

    select
        renamed.item_id,
        -- A title that is only a year ("(1995)") keeps it: the stem would be empty.
        coalesce(renamed.title_stem, renamed.raw_title) as title,
        coalesce(item_genre_lists.genres, ['{{ var("other_genre") }}']) as genres,
        -- The title's year first (MovieLens' own); the year column (ml-100k: release date) backs it up.
        coalesce(case when renamed.title_stem is not null then renamed.title_year end, renamed.year) as year,
        renamed.tags,
        renamed.description

    from renamed
    left join item_genre_lists
        on renamed.item_id = item_genre_lists.item_id

)

select * from final
