{{ config(materialized='table', order_by='date_day') }}

with

days as (

    {{ calendar_days(var('calendar_start'), var('calendar_end')) }}

),

final as (

    select
        -- key
        days.date_day as date_day,

        -- ISO week
        {{ iso_week_start('days.date_day') }} as iso_week_start,
        {{ iso_week_number('days.date_day') }} as iso_week_number,
        {{ iso_year('days.date_day') }} as iso_year,
        {{ iso_day_of_week('days.date_day') }} as iso_day_of_week,

        -- calendar month and year
        {{ month_start('days.date_day') }} as month_start,
        cast(extract(month from days.date_day) as int) as month_number,
        cast(extract(year from days.date_day) as int) as year_number

    from days

)

select
    date_day,
    iso_week_start,
    iso_week_number,
    iso_year,
    iso_day_of_week,
    month_start,
    month_number,
    year_number
from final
