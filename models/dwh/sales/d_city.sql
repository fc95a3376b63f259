{#-
    SCD1, incremental by key: a daily run recomputes the cities of its window's order lines
    from all their lines and replaces their rows; a full build computes every one.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='city_id',
    order_by='city_id',
) }}

with

order_lines as (

    select * from {{ ref('stg_s3__user_order_log') }}
    where {{ changed_keys('city_id', ref('stg_s3__user_order_log')) }}

),

cities as (

    select distinct
        {{ assume_not_null('order_lines.city_id') }} as city_id
    from order_lines
    where order_lines.city_id is not null

),

-- SCD1: the name on the latest order line that has one. The latest moment first (a hash
-- aggregate), then the lines of that moment ranked: no sort of every line of the citys.
named_lines as (

    select
        order_lines.city_id,
        order_lines.city_name,
        order_lines.ordered_at,
        order_lines._batch_date,
        order_lines.uniq_id
    from order_lines
    where
        order_lines.city_id is not null
        and order_lines.city_name is not null
        and order_lines.ordered_at is not null

),

latest_moments as (

    select
        named_lines.city_id,
        max(named_lines.ordered_at) as ordered_at
    from named_lines
    group by named_lines.city_id

),

latest_names as (

    select
        named_lines.city_id,
        named_lines.city_name,
        row_number() over (
            partition by named_lines.city_id
            order by named_lines._batch_date desc, named_lines.uniq_id desc
        ) as name_rank
    from named_lines
    inner join latest_moments
        on
            named_lines.city_id = latest_moments.city_id
            and named_lines.ordered_at = latest_moments.ordered_at

),

final as (

    select
        cities.city_id as city_id,
        latest_names.city_name as city_name
    from cities
    left join latest_names
        on
            cities.city_id = latest_names.city_id
            and latest_names.name_rank = 1

)

select
    city_id,
    city_name
from final
