{#-
    SCD1, incremental by key: a daily run recomputes the customers of its window's order lines
    from all their lines and replaces their rows; a full build computes every one.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='customer_id',
    order_by='customer_id',
) }}

with

order_lines as (

    select * from {{ ref('stg_s3__user_order_log') }}
    where {{ changed_keys('customer_id', ref('stg_s3__user_order_log')) }}

),

-- SCD1, attribute by attribute: the latest order line wins for the city, the latest line that
-- has both names wins for the names (a line with an empty name does not erase a known one).
-- Both rankings in one pass, no self-join: a join of two rankings is a nested loop on
-- PostgreSQL whenever it underestimates them, which it does before the landing is analyzed.
ranked as (

    select
        order_lines.customer_id,
        order_lines.city_id,
        order_lines.first_name,
        order_lines.last_name,
        order_lines.first_name is not null and order_lines.last_name is not null as has_names,
        row_number() over (
            partition by order_lines.customer_id
            order by
                order_lines.ordered_at desc, order_lines._batch_date desc, order_lines.uniq_id desc
        ) as line_rank,
        row_number() over (
            partition by order_lines.customer_id
            order by
                case
                    when order_lines.first_name is not null and order_lines.last_name is not null
                        then 0
                    else 1
                end,
                order_lines.ordered_at desc,
                order_lines._batch_date desc,
                order_lines.uniq_id desc
        ) as name_rank
    from order_lines
    where order_lines.customer_id is not null

),

final as (

    select
        {{ assume_not_null('ranked.customer_id') }} as customer_id,
        max(case when ranked.name_rank = 1 and ranked.has_names then ranked.first_name end)
            as first_name,
        max(case when ranked.name_rank = 1 and ranked.has_names then ranked.last_name end)
            as last_name,
        max(case when ranked.line_rank = 1 then ranked.city_id end) as city_id
    from ranked
    group by ranked.customer_id

)

select
    customer_id,
    first_name,
    last_name,
    city_id
from final
