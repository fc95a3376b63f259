with

orders as (

    select * from {{ ref('f_orders') }}

),

users as (

    select * from {{ ref('d_shop_users') }}

),

checks as (

    select
        orders.status as status,
        users.loyalty_status as loyalty_status,
        orders.total_amount as total_amount
    from orders
    left join users
        on orders.user_id = users.user_id
    where orders.total_amount is not null

),

-- one row per latest order status and the user's loyalty level (NULL: user not known yet)
final as (

    select
        checks.status as status,
        checks.loyalty_status as loyalty_status,
        cast(
            round(cast(sum(checks.total_amount) as decimal(38, 6)) / count(*), 2)
            as decimal(18, 2)
        ) as average_check
    from checks
    group by
        checks.status,
        checks.loyalty_status

)

select
    status,
    loyalty_status,
    average_check
from final
