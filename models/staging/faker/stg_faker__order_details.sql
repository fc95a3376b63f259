{#-
    A table, incremental by key like stg_faker__orders: a daily run recomputes the lines
    exported in its window from all their exports and replaces their rows.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='order_detail_id',
    order_by='order_detail_id',
) }}

with

source as (

    select * from {{ source('faker', 'order_details') }}

),

typed as (

    select
        -- ids
        {{ try_cast(clean_text('order_detail_id'), 'int') }} as order_detail_id,
        {{ try_cast(clean_text('order_id'), 'int') }} as order_id,
        {{ try_cast(clean_text('product_id'), 'int') }} as product_id,

        -- amounts
        {{ try_cast(clean_text('quantity'), 'int') }} as quantity,
        {{ try_cast(clean_text('price_per_unit'), 'numeric') }} as price_per_unit,
        {{ try_cast(clean_text('total_price'), 'numeric') }} as total_price,

        -- load metadata
        _batch_date,
        _loaded_at

    from source

),

-- an order line exported again on a later day: the latest export wins
ranked as (

    select
        typed.*,
        row_number() over (
            partition by typed.order_detail_id
            order by typed._batch_date desc, typed._loaded_at desc
        ) as version_rank
    from typed
    where
        typed.order_detail_id is not null
        and {{ changed_keys(
            'typed.order_detail_id',
            source('faker', 'order_details'),
            try_cast(clean_text('order_detail_id'), 'int'),
        ) }}

),

latest as (

    select
        {{ assume_not_null('order_detail_id') }} as order_detail_id,
        order_id,
        product_id,
        quantity,
        price_per_unit,
        total_price,
        _batch_date,
        _loaded_at
    from ranked
    where version_rank = 1

)

select * from latest
