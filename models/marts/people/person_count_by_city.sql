{{ config(order_by='city') }}

with

persons as (

    select * from {{ ref('stg_faker__persons') }}

),

current_persons as (

    select
        persons.person_id,
        persons.city
    from persons
    where not persons.is_deleted

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
