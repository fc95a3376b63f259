{#-
    SCD1, incremental by key: a daily run recomputes the cities of its window's order lines and
    replaces their rows; a full build computes every one. The latest name of each:
    macros/latest_line.sql.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='city_id',
    order_by='city_id',
) }}

with

-- SCD1: the name on the latest order line that has one
latest_names as (

    {{ latest_line(
        ref('int_order_lines__latest_per_month'), ref('stg_s3__user_order_log'),
        'city_id', ['city_name']) }}

),

final as (

    select
        {{ assume_not_null('latest_names.city_id') }} as city_id,
        latest_names.city_name as city_name
    from latest_names

)

select
    city_id,
    city_name
from final
