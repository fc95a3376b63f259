with

source as (

    select * from {{ source('s3', 'price_log') }}

),

typed as (

    select
        -- ids
        {{ try_cast(clean_text('item_id'), 'int') }} as item_id,
        {{ try_cast(clean_text('category_id'), 'int') }} as category_id,

        -- attributes
        {{ clean_text('category_name') }} as category_name,

        -- amounts
        {{ try_cast(clean_text('price'), 'numeric') }} as price,

        -- timestamps
        {{ try_cast(clean_text('date_time'), 'timestamp') }} as price_from,

        -- load metadata
        _source_file,
        _line_number,
        _batch_date,
        _loaded_at

    from source

),

-- one price per item and moment: the latest export wins
ranked as (

    select
        typed.*,
        row_number() over (
            partition by typed.item_id, typed.price_from
            order by typed._batch_date desc, typed._loaded_at desc, typed._line_number desc
        ) as delivery_rank
    from typed

),

deduplicated as (

    select
        item_id,
        category_id,
        category_name,
        price,
        price_from,
        _source_file,
        _line_number,
        _batch_date,
        _loaded_at
    from ranked
    where delivery_rank = 1

)

select * from deduplicated
