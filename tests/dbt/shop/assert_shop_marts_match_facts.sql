-- The shop marts add up to the facts, per latest order status: orders and money in
-- mart_user_activity, units and money in mart_product_sales. A row here is a disagreement.

with

orders as (

    select * from {{ ref('f_orders') }}
    where user_id is not null

),

order_totals as (

    select
        'orders' as measure,
        orders.status as status,
        cast(count(*) as decimal(38, 2)) as from_facts,
        cast(0 as decimal(38, 2)) as from_mart
    from orders
    group by orders.status

    union all

    select
        'spent' as measure,
        orders.status as status,
        cast(sum(orders.total_amount) as decimal(38, 2)) as from_facts,
        cast(0 as decimal(38, 2)) as from_mart
    from orders
    group by orders.status

),

activity_totals as (

    select
        'orders' as measure,
        activity.status as status,
        cast(0 as decimal(38, 2)) as from_facts,
        cast(sum(activity.order_count) as decimal(38, 2)) as from_mart
    from {{ ref('mart_user_activity') }} as activity
    group by activity.status

    union all

    select
        'spent' as measure,
        activity.status as status,
        cast(0 as decimal(38, 2)) as from_facts,
        cast(sum(activity.total_spent) as decimal(38, 2)) as from_mart
    from {{ ref('mart_user_activity') }} as activity
    group by activity.status

),

line_totals as (

    select
        'units' as measure,
        orders.status as status,
        cast(sum(order_lines.quantity) as decimal(38, 2)) as from_facts,
        cast(0 as decimal(38, 2)) as from_mart
    from {{ ref('f_order_details') }} as order_lines
    inner join {{ ref('f_orders') }} as orders
        on order_lines.order_id = orders.order_id
    where order_lines.product_id is not null
    group by orders.status

),

sales_totals as (

    select
        'units' as measure,
        sales.status as status,
        cast(0 as decimal(38, 2)) as from_facts,
        cast(sum(sales.total_quantity_sold) as decimal(38, 2)) as from_mart
    from {{ ref('mart_product_sales') }} as sales
    group by sales.status

),

both_sides as (

    select * from order_totals
    union all
    select * from activity_totals
    union all
    select * from line_totals
    union all
    select * from sales_totals

)

select
    measure,
    status,
    sum(from_facts) as facts_total,
    sum(from_mart) as mart_total
from both_sides
group by
    measure,
    status
having sum(from_facts) != sum(from_mart)
