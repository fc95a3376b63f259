{{ config(materialized='table', order_by='customer_id') }}

with

order_lines as (

    select * from {{ ref('stg_s3__user_order_log') }}

),

-- SCD1, attribute by attribute: the latest order line that has the value wins, so a line with
-- an empty name does not erase a known one
latest_lines as (

    select
        order_lines.customer_id,
        order_lines.city_id,
        row_number() over (
            partition by order_lines.customer_id
            order by
                order_lines.ordered_at desc, order_lines._batch_date desc, order_lines.uniq_id desc
        ) as line_rank
    from order_lines
    where order_lines.customer_id is not null

),

latest_names as (

    select
        order_lines.customer_id,
        order_lines.first_name,
        order_lines.last_name,
        row_number() over (
            partition by order_lines.customer_id
            order by
                order_lines.ordered_at desc, order_lines._batch_date desc, order_lines.uniq_id desc
        ) as name_rank
    from order_lines
    where
        order_lines.customer_id is not null
        and order_lines.first_name is not null
        and order_lines.last_name is not null

),

final as (

    select
        {{ assume_not_null('latest_lines.customer_id') }} as customer_id,
        latest_names.first_name as first_name,
        latest_names.last_name as last_name,
        latest_lines.city_id as city_id
    from latest_lines
    left join latest_names
        on
            latest_lines.customer_id = latest_names.customer_id
            and latest_names.name_rank = 1
    where latest_lines.line_rank = 1

)

select
    customer_id,
    first_name,
    last_name,
    city_id
from final
