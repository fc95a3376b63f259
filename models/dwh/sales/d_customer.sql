{#-
    SCD1, incremental by key: a daily run recomputes the customers of its window's order lines
    and replaces their rows; a full build computes every one. Each attribute's latest value:
    macros/latest_line.sql.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='customer_id',
    order_by='customer_id',
) }}

with

-- SCD1, attribute by attribute: the names from the latest line that has both (a line with an
-- empty name does not erase a known one), the city from the latest line
latest_names as (

    {{ latest_line(
        ref('int_order_lines__latest_per_month'), ref('stg_s3__user_order_log'),
        'customer_id', ['first_name', 'last_name']) }}

),

latest_cities as (

    {{ latest_line(
        ref('int_order_lines__latest_per_month'), ref('stg_s3__user_order_log'),
        'customer_id', ['city_id'], required=[]) }}

),

final as (

    select
        {{ assume_not_null('latest_cities.customer_id') }} as customer_id,
        latest_names.first_name as first_name,
        latest_names.last_name as last_name,
        latest_cities.city_id as city_id
    from latest_cities
    inner join latest_names
        on latest_cities.customer_id = latest_names.customer_id

)

select
    customer_id,
    first_name,
    last_name,
    city_id
from final
