with

source as (

    select * from {{ source('s3', 'customer_research') }}

),

typed as (

    select
        -- keys
        {{ try_cast(clean_text('date_id'), 'date') }} as research_date,
        {{ try_cast(clean_text('category_id'), 'int') }} as category_id,
        {{ try_cast(clean_text('geo_id'), 'int') }} as city_id,

        -- amounts
        {{ try_cast(clean_text('sales_qty'), 'int') }} as sales_quantity,
        {{ try_cast(clean_text('sales_amt'), 'numeric') }} as sales_amount,

        -- load metadata
        _source_file,
        _line_number,
        _batch_date,
        _loaded_at

    from source

),

-- one panel figure per day, category and city: the latest export wins
ranked as (

    select
        typed.*,
        row_number() over (
            partition by typed.research_date, typed.category_id, typed.city_id
            order by typed._batch_date desc, typed._loaded_at desc, typed._line_number desc
        ) as delivery_rank
    from typed

),

deduplicated as (

    select
        research_date,
        category_id,
        city_id,
        sales_quantity,
        sales_amount,
        _source_file,
        _line_number,
        _batch_date,
        _loaded_at
    from ranked
    where delivery_rank = 1

)

select * from deduplicated
