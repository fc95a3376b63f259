{#-
    The order lines that can be a dimension's latest line (macros/latest_line.sql): per month of
    day folders (`_batch_date`), the latest line of each city with a city name, of each item with
    an item name, of each customer with both names, and of each customer. The latest line of a
    key over all history is the latest of its months' lines, so d_city, d_item and d_customer
    read this table instead of every order line: a few rows per key and month instead of every
    line of the key, and months instead of daily partitions.

    Incremental by month (insert_overwrite on `batch_month`): a daily run ranks, for each month of
    its window, the window's lines with the month's stored lines from its other days (the
    other folders did not change, so their latest lines are among those stored); a month that
    held a line a later delivery in the window moved out of its folder (staging keeps one copy
    per `uniq_id`) is ranked again from all its lines. A full build ranks every line.
-#}
-- depends_on: {{ ref('d_calendar') }}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='batch_month',
    partition_by_string='batch_month',
    order_by='batch_month',
    indexes=lookup_indexes([
        ['city_id', 'ordered_at', '_batch_date', 'uniq_id'],
        ['item_id', 'ordered_at', '_batch_date', 'uniq_id'],
        ['customer_id', 'ordered_at', '_batch_date', 'uniq_id'],
    ]),
) }}

{%- set incremental = insert_overwrite_window() is not none %}
{%- set listed -%}
        -- ids
        uniq_id,
        city_id,
        item_id,
        customer_id,

        -- attributes
        city_name,
        item_name,
        first_name,
        last_name,

        -- the line's moment and delivery: what "latest" orders by
        ordered_at,
        _batch_date
{%- endset %}

with

order_lines as (

    select * from {{ ref('stg_s3__user_order_log') }}

),

{%- if incremental %}

-- months with a kept line from a folder outside the window's days that came again in the
-- window (staging took it out of its folder): rebuilt from all their lines. The order lines
-- are read here, not through the CTE above: PostgreSQL materializes a CTE read twice, every
-- row of it, before filtering.
moved_months as (

    select distinct stored.batch_month
    from {{ this }} as stored
    where
        not {{ incremental_window('stored._batch_date') }}
        and stored.uniq_id in (
            select window_lines.uniq_id
            from {{ ref('stg_s3__user_order_log') }} as window_lines
            where {{ incremental_window('window_lines._batch_date') }}
        )

),

-- the kept lines of the window's months from their other days: those folders did not change,
-- so their latest lines are still among these
stored_lines as (

    select
        {{ listed }}
    from {{ this }} as stored
    where
        {{ incremental_window('stored.batch_month', grain='month') }}
        and not {{ incremental_window('stored._batch_date') }}
        and stored.batch_month not in (select moved_months.batch_month from moved_months)

),
{%- endif %}

-- the window's lines (every line when building all history), and every line of moved months
new_lines as (

    select
        {{ listed }}
    from order_lines
    where
        ordered_at is not null
        and (
            {{ incremental_window('_batch_date') }}
            {%- if incremental %}
            or {{ adapter.dispatch('in_subquery', 'warehouse')(
                '_batch_date',
                'select calendar.date_day from ' ~ ref('d_calendar') ~ ' as calendar'
                ~ ' where calendar.month_start in (select batch_month from moved_months)') }}
            {%- endif %}
        )

),

lines as (

    select
        new_lines.*,
        {{ month_start('new_lines._batch_date') }} as batch_month
    from new_lines
    {%- if incremental %}
    union all
    select
        stored_lines.*,
        {{ month_start('stored_lines._batch_date') }} as batch_month
    from stored_lines
    {%- endif %}

),

-- within a month, each line's rank among the lines of its key that have the same attributes
-- set (`... is null` in the partition), newest first
ranked as (

    select
        lines.*,
        row_number() over (
            partition by lines.batch_month, lines.city_id, lines.city_name is null
            order by lines.ordered_at desc, lines._batch_date desc, lines.uniq_id desc
        ) as city_rank,
        row_number() over (
            partition by lines.batch_month, lines.item_id, lines.item_name is null
            order by lines.ordered_at desc, lines._batch_date desc, lines.uniq_id desc
        ) as item_rank,
        row_number() over (
            partition by
                lines.batch_month,
                lines.customer_id,
                lines.first_name is null or lines.last_name is null
            order by lines.ordered_at desc, lines._batch_date desc, lines.uniq_id desc
        ) as named_customer_rank,
        row_number() over (
            partition by lines.batch_month, lines.customer_id
            order by lines.ordered_at desc, lines._batch_date desc, lines.uniq_id desc
        ) as customer_rank
    from lines

),

final as (

    select
        {{ assume_not_null('batch_month') }} as batch_month,
        {{ listed }}
    from ranked
    where
        (city_rank = 1 and city_name is not null)
        or (item_rank = 1 and item_name is not null)
        or (named_customer_rank = 1 and first_name is not null and last_name is not null)
        or customer_rank = 1

)

select
    batch_month,
    {{ listed }}
from final
