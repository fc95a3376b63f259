with

source as (

    select * from {{ source('faker', 'product_categories') }}

),

typed as (

    select
        -- ids
        {{ try_cast(clean_text('category_id'), 'int') }} as category_id,
        {{ try_cast(clean_text('parent_category_id'), 'int') }} as parent_category_id,

        -- attributes
        {{ clean_text('name') }} as category_name,

        -- load metadata
        _batch_date,
        _loaded_at

    from source

),

-- a category exported again on a later day: the latest export wins
ranked as (

    select
        typed.*,
        row_number() over (
            partition by typed.category_id
            order by typed._batch_date desc, typed._loaded_at desc
        ) as version_rank
    from typed
    where typed.category_id is not null

),

latest as (

    select
        category_id,
        category_name,
        parent_category_id,
        _batch_date,
        _loaded_at
    from ranked
    where version_rank = 1

)

select * from latest
