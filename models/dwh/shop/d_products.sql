{{ config(
    materialized='table',
    order_by='product_id',
) }}

with

products as (

    select * from {{ ref('stg_faker__products') }}

),

final as (

    select
        -- ids
        {{ assume_not_null('products.product_id') }} as product_id,
        products.category_id as category_id,

        -- attributes
        products.product_name as product_name,
        products.description as description,
        products.stock_quantity as stock_quantity,

        -- amounts
        products.price as price,

        -- timestamps
        products.created_at as created_at

    from products

)

select * from final
