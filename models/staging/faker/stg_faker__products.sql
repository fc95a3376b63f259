with

source as (

    select * from {{ source('faker', 'products') }}

),

typed as (

    select
        -- ids
        {{ try_cast(clean_text('product_id'), 'int') }} as product_id,
        {{ try_cast(clean_text('category_id'), 'int') }} as category_id,

        -- attributes
        {{ clean_text('name') }} as product_name,
        {{ clean_text('description') }} as description,
        {{ try_cast(clean_text('stock_quantity'), 'int') }} as stock_quantity,

        -- amounts
        {{ try_cast(clean_text('price'), 'numeric') }} as price,

        -- timestamps
        {{ try_cast(clean_text('creation_date'), 'timestamp') }} as created_at,

        -- load metadata
        _batch_date,
        _loaded_at

    from source

),

-- a product exported again on a later day (new price, stock): the latest export wins
ranked as (

    select
        typed.*,
        row_number() over (
            partition by typed.product_id
            order by typed._batch_date desc, typed._loaded_at desc
        ) as version_rank
    from typed
    where typed.product_id is not null

),

latest as (

    select
        product_id,
        product_name,
        description,
        category_id,
        price,
        stock_quantity,
        created_at,
        _batch_date,
        _loaded_at
    from ranked
    where version_rank = 1

)

select * from latest
