-- Every week, new + returning revenue over all items equals the shipped revenue in f_sales.
-- Returns the weeks where they differ. A daily run checks the weeks around its window.

with

retention as (

    select
        period_id,
        sum(new_customers_revenue + returning_customers_revenue) as revenue
    from {{ ref('f_customer_retention') }}
    where {{ tested_weeks('period_id') }}
    group by period_id

),

shipped as (

    select
        {{ iso_week_start('sale_date') }} as period_id,
        sum(payment_amount) as revenue
    from {{ ref('f_sales') }}
    where status = 'shipped' and {{ tested_weeks('sale_date') }}
    group by {{ iso_week_start('sale_date') }}

),

differences as (

    select
        period_id,
        revenue
    from retention
    union all
    select
        period_id,
        -revenue as revenue
    from shipped

)

select
    period_id,
    sum(revenue) as difference
from differences
group by period_id
having abs(sum(revenue)) >= 0.01
