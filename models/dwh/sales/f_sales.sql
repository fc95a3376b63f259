{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='sale_date',
    partition_by_string='sale_date',
    order_by='sale_date, uniq_id',
) }}

with

order_lines as (

    select * from {{ ref('stg_s3__user_order_log') }}

),

-- the days this run rebuilds (all of them without run_date); staging has deduplicated the lines
-- and made refunds negative
window_lines as (

    select
        -- keys (NOT NULL on ClickHouse, where assume_not_null is a function call)
        {{ assume_not_null('order_lines.sale_date') }} as sale_date,
        {{ assume_not_null('order_lines.uniq_id') }} as uniq_id,

        -- dimensions
        order_lines.item_id as item_id,
        order_lines.customer_id as customer_id,
        order_lines.city_id as city_id,

        -- amounts
        order_lines.quantity as quantity,
        order_lines.payment_amount as payment_amount,

        -- attributes
        order_lines.status as status

    from order_lines
    where
        order_lines.sale_date is not null
        and order_lines.uniq_id is not null
        and {{ incremental_window('order_lines.sale_date') }}

)

select
    sale_date,
    uniq_id,
    item_id,
    customer_id,
    city_id,
    quantity,
    payment_amount,
    status
from window_lines
