{{ config(
    materialized='table',
    order_by=['date_update', 'currency_code', 'currency_code_with'],
) }}

with

rates as (

    select * from {{ ref('stg_kafka__currency_rates') }}

),

final as (

    select
        -- keys: the day and the currency pair
        {{ assume_not_null('rates.date_update') }} as date_update,
        {{ assume_not_null('rates.currency_code') }} as currency_code,
        {{ assume_not_null('rates.currency_code_with') }} as currency_code_with,

        -- one unit of currency_code in currency_code_with
        rates.currency_with_div as currency_with_div

    from rates

)

select * from final
