{{ config(order_by='product_id') }}

with

lines as (

    select * from {{ ref('f_order_details') }}

),

orders as (

    select * from {{ ref('f_orders') }}

),

products as (

    select * from {{ ref('d_products') }}

),

-- one row per product and the latest status of the orders it was sold in
sales as (

    select
        lines.product_id as product_id,
        orders.status as status,
        cast(sum(lines.quantity) as bigint) as total_quantity_sold,
        sum(lines.total_price) as total_sales
    from lines
    inner join orders
        on lines.order_id = orders.order_id
    where lines.product_id is not null
    group by
        lines.product_id,
        orders.status

),

final as (

    select
        {{ assume_not_null('sales.product_id') }} as product_id,
        -- `name` is the contract's column name
        products.product_name as name,  -- noqa: RF04
        sales.status as status,
        sales.total_quantity_sold as total_quantity_sold,
        sales.total_sales as total_sales
    from sales
    left join products
        on sales.product_id = products.product_id

)

select
    product_id,
    name,
    status,
    total_quantity_sold,
    total_sales
from final
