{#-
    SCD1, incremental by key: a daily run recomputes the items of its window's order lines
    from all their lines and replaces their rows; a full build computes every one.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='item_id',
    order_by='item_id',
) }}

with

order_lines as (

    select * from {{ ref('stg_s3__user_order_log') }}
    where {{ changed_keys('item_id', ref('stg_s3__user_order_log')) }}

),

items as (

    select distinct
        {{ assume_not_null('order_lines.item_id') }} as item_id
    from order_lines
    where order_lines.item_id is not null

),

-- SCD1: the name on the latest order line that has one. The latest moment first (a hash
-- aggregate), then the lines of that moment ranked: no sort of every line of the items.
named_lines as (

    select
        order_lines.item_id,
        order_lines.item_name,
        order_lines.ordered_at,
        order_lines._batch_date,
        order_lines.uniq_id
    from order_lines
    where
        order_lines.item_id is not null
        and order_lines.item_name is not null
        and order_lines.ordered_at is not null

),

latest_moments as (

    select
        named_lines.item_id,
        max(named_lines.ordered_at) as ordered_at
    from named_lines
    group by named_lines.item_id

),

latest_names as (

    select
        named_lines.item_id,
        named_lines.item_name,
        row_number() over (
            partition by named_lines.item_id
            order by named_lines._batch_date desc, named_lines.uniq_id desc
        ) as name_rank
    from named_lines
    inner join latest_moments
        on
            named_lines.item_id = latest_moments.item_id
            and named_lines.ordered_at = latest_moments.ordered_at

),

final as (

    select
        items.item_id as item_id,
        latest_names.item_name as item_name
    from items
    left join latest_names
        on
            items.item_id = latest_names.item_id
            and latest_names.name_rank = 1

)

select
    item_id,
    item_name
from final
