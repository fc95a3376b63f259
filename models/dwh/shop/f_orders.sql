{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='order_date',
    partition_by_string='order_date',
    order_by=['order_date', 'order_id'],
) }}

with

orders as (

    select * from {{ ref('stg_faker__orders') }}

),

-- the days this run rebuilds: the window, and the days of orders whose latest version (a status
-- change) was exported in the window
rebuilt as (

    select
        -- keys
        {{ assume_not_null('orders.order_date') }} as order_date,
        {{ assume_not_null('orders.order_id') }} as order_id,
        orders.user_id as user_id,

        -- the latest status
        orders.status as status,

        -- amounts
        orders.total_amount as total_amount,

        -- timestamps
        orders.ordered_at as ordered_at,
        orders.delivered_at as delivered_at,

        -- load metadata: the export day of this (the latest) version
        orders._batch_date as _batch_date

    from orders
    where {{ incremental_touched(ref('stg_faker__orders'), 'order_date', ['_batch_date']) }}

)

select * from rebuilt
