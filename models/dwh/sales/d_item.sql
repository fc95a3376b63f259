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

-- SCD1: the name on the latest order line that has one
latest_names as (

    select
        order_lines.item_id,
        order_lines.item_name,
        row_number() over (
            partition by order_lines.item_id
            order by
                order_lines.ordered_at desc, order_lines._batch_date desc, order_lines.uniq_id desc
        ) as name_rank
    from order_lines
    where order_lines.item_id is not null and order_lines.item_name is not null

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
