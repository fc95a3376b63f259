{{ config(
    materialized='table',
    order_by='category_id',
) }}

with

categories as (

    select * from {{ ref('stg_faker__product_categories') }}

),

final as (

    select
        {{ assume_not_null('categories.category_id') }} as category_id,
        categories.category_name as category_name,
        categories.parent_category_id as parent_category_id
    from categories

)

select * from final
