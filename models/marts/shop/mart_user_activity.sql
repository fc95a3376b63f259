{{ config(order_by='user_id') }}

with

orders as (

    select * from {{ ref('f_orders') }}

),

users as (

    select * from {{ ref('d_shop_users') }}

),

-- one row per user and latest order status
activity as (

    select
        orders.user_id as user_id,
        orders.status as status,
        count(*) as order_count,
        sum(orders.total_amount) as total_spent
    from orders
    where orders.user_id is not null
    group by
        orders.user_id,
        orders.status

),

final as (

    select
        {{ assume_not_null('activity.user_id') }} as user_id,
        users.first_name as first_name,
        users.last_name as last_name,
        activity.status as status,
        activity.order_count as order_count,
        activity.total_spent as total_spent
    from activity
    left join users
        on activity.user_id = users.user_id

)

select
    user_id,
    first_name,
    last_name,
    status,
    order_count,
    total_spent
from final
