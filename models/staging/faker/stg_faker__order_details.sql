{#-
    A table, incremental by key: a daily run ranks the lines exported in its window with the rows
    stored for the same lines (macros/latest_copies.sql, with_stored_rows) and replaces their
    rows; a full build ranks every export.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='order_detail_id',
    order_by='order_detail_id',
    indexes=lookup_indexes(['order_detail_id']),
    tested_window_column='_batch_date',
) }}

{#- the table's columns, in order -#}
{%- set columns = [
    'order_detail_id',
    'order_id',
    'product_id',
    'quantity',
    'price_per_unit',
    'total_price',
    '_batch_date',
    '_loaded_at',
] %}

with

source as (

    select * from {{ source('faker', 'order_details') }}
    where {{ incremental_window('_batch_date') }}

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

exports as (

    select
        {{ assume_not_null('order_detail_id') }} as order_detail_id,
        order_id,
        product_id,
        quantity,
        price_per_unit,
        total_price,
        _batch_date,
        _loaded_at
    from typed
    where order_detail_id is not null

),

-- the window's exports and the rows stored for the same lines
versions as (

    {{ with_stored_rows('exports', 'order_detail_id', columns) }}

),

-- an order line exported again on a later day: the latest export wins
ranked as (

    select
        versions.*,
        row_number() over (
            partition by versions.order_detail_id
            order by versions._batch_date desc, versions._loaded_at desc
        ) as version_rank
    from versions

),

latest as (

    select {{ columns | join(', ') }}
    from ranked
    where version_rank = 1

)

select * from latest
