{{ config(order_by='city') }}

with

persons as (

    select * from {{ ref('stg_faker__persons') }}

),

current_persons as (

    -- a NULL city fails stg_faker__persons' not_null test before this runs
    select
        persons.person_id,
        {{ assume_not_null('persons.city') }} as city
    from persons
    where
        not persons.is_deleted
        and persons.city is not null

),

final as (

    select
        current_persons.city as city,
        count(*) as person_count
    from current_persons
    group by current_persons.city

)

select
    city,
    person_count
from final
