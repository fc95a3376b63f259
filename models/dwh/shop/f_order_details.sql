{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='order_date',
    partition_by_string='order_date',
    order_by=['order_date', 'order_detail_id'],
) }}

with

details as (

    select * from {{ ref('stg_faker__order_details') }}

),

orders as (

    select * from {{ ref('stg_faker__orders') }}

),

-- a line is dated by its order; a line whose order has not arrived yet waits for it
lines as (

    select
        orders.order_date as order_date,
        details.order_detail_id as order_detail_id,
        details.order_id as order_id,
        details.product_id as product_id,
        details.quantity as quantity,
        details.price_per_unit as price_per_unit,
        details.total_price as total_price,
        details._batch_date as _batch_date
    from details
    inner join orders
        on details.order_id = orders.order_id

),

-- each line's day and export days, for finding the days a daily run rebuilds (a full build
-- does not read it): narrow, and apart from `lines` (PostgreSQL materializes a CTE read twice,
-- every row and column of it)
line_days as (  -- noqa: ST03

    select
        orders.order_date as order_date,
        details._batch_date as _batch_date,
        orders._batch_date as order_batch_date
    from {{ ref('stg_faker__order_details') }} as details
    inner join {{ ref('stg_faker__orders') }} as orders
        on details.order_id = orders.order_id

),

-- the days this run rebuilds: the window, and the days of lines or orders exported in it
rebuilt as (

    select
        -- keys
        {{ assume_not_null('lines.order_date') }} as order_date,
        {{ assume_not_null('lines.order_detail_id') }} as order_detail_id,
        lines.order_id as order_id,
        lines.product_id as product_id,

        -- amounts
        lines.quantity as quantity,
        lines.price_per_unit as price_per_unit,
        lines.total_price as total_price,

        -- load metadata: the export day of this (the latest) version of the line
        lines._batch_date as _batch_date

    from lines
    where {{ incremental_touched('line_days', 'order_date', ['_batch_date', 'order_batch_date']) }}

)

select * from rebuilt
