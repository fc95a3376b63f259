{#-
    SCD1, incremental by key: a daily run recomputes the items of its window's order lines and
    replaces their rows; a full build computes every one. The latest name of each:
    macros/latest_line.sql.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='item_id',
    order_by='item_id',
) }}

with

-- SCD1: the name on the latest order line that has one
latest_names as (

    {{ latest_line(
        ref('int_order_lines__latest_per_month'), ref('stg_s3__user_order_log'),
        'item_id', ['item_name']) }}

),

final as (

    select
        {{ assume_not_null('latest_names.item_id') }} as item_id,
        latest_names.item_name as item_name
    from latest_names

)

select
    item_id,
    item_name
from final
