{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='period_id',
    partition_by_string='period_id',
    order_by='period_id, item_id',
) }}

with

-- a week's figures depend on all of its days, so a run rebuilds whole ISO weeks: from the week
-- of run_date - lookback_days to the week of run_date
sales as (

    select * from {{ ref('f_sales') }}
    where {{ incremental_window('sale_date', grain='week') }}

),

lines as (

    select
        {{ iso_week_start('sales.sale_date') }} as period_id,
        {{ assume_not_null('sales.item_id') }} as item_id,
        sales.customer_id,
        sales.status,
        sales.payment_amount
    from sales
    where sales.item_id is not null

),

-- a customer's order count in a week: their shipped lines, all items together
customer_orders as (

    select
        lines.period_id,
        lines.customer_id,
        count(*) as order_count
    from lines
    where lines.status = 'shipped'
    group by lines.period_id, lines.customer_id

),

-- each customer's purchases of each item in a week, with their order count
item_buyers as (

    select
        lines.period_id,
        lines.item_id,
        lines.customer_id,
        customer_orders.order_count,
        sum(lines.payment_amount) as revenue
    from lines
    inner join customer_orders
        on
            lines.period_id = customer_orders.period_id
            and lines.customer_id = customer_orders.customer_id
    where lines.status = 'shipped'
    group by lines.period_id, lines.item_id, lines.customer_id, customer_orders.order_count

),

buyers as (

    select
        item_buyers.period_id,
        item_buyers.item_id,
        sum(case when item_buyers.order_count = 1 then 1 else 0 end) as new_customers_count,
        sum(case when item_buyers.order_count > 1 then 1 else 0 end) as returning_customers_count,
        sum(case when item_buyers.order_count = 1 then item_buyers.revenue else 0 end)
            as new_customers_revenue,
        sum(case when item_buyers.order_count > 1 then item_buyers.revenue else 0 end)
            as returning_customers_revenue
    from item_buyers
    group by item_buyers.period_id, item_buyers.item_id

),

refunds as (

    select
        lines.period_id,
        lines.item_id,
        count(distinct lines.customer_id) as refunded_customer_count,
        count(*) as customers_refunded
    from lines
    where lines.status = 'refunded'
    group by lines.period_id, lines.item_id

),

periods_items as (

    select distinct
        lines.period_id,
        lines.item_id
    from lines

),

final as (

    select
        -- keys
        periods_items.period_id as period_id,
        periods_items.item_id as item_id,
        'weekly' as period_name,

        -- revenue
        cast(coalesce(buyers.new_customers_revenue, 0) as numeric(18, 2)) as new_customers_revenue,
        cast(coalesce(buyers.returning_customers_revenue, 0) as numeric(18, 2))
            as returning_customers_revenue,

        -- customers
        coalesce(buyers.new_customers_count, 0) as new_customers_count,
        coalesce(buyers.returning_customers_count, 0) as returning_customers_count,
        coalesce(refunds.refunded_customer_count, 0) as refunded_customer_count,

        -- refunds
        coalesce(refunds.customers_refunded, 0) as customers_refunded

    from periods_items
    left join buyers
        on
            periods_items.period_id = buyers.period_id
            and periods_items.item_id = buyers.item_id
    left join refunds
        on
            periods_items.period_id = refunds.period_id
            and periods_items.item_id = refunds.item_id

)

select
    period_name,
    period_id,
    item_id,
    new_customers_count,
    returning_customers_count,
    refunded_customer_count,
    new_customers_revenue,
    returning_customers_revenue,
    customers_refunded
from final
