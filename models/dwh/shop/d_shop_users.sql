{{ config(
    materialized='table',
    order_by='user_id',
) }}

with

exported as (

    select * from {{ ref('stg_faker__users') }}

),

registered as (

    select * from {{ ref('stg_kafka__new_users') }}

),

-- the shop database's export wins whenever it has the user
from_export as (

    select
        exported.user_id as user_id,
        exported.first_name as first_name,
        exported.last_name as last_name,
        exported.email as email,
        exported.phone as phone,
        exported.registration_date as registration_date,
        exported.loyalty_status as loyalty_status,
        'export' as known_from
    from exported

),

-- a user registered on the topic but not exported yet is known from the event
from_events as (

    select
        registered.user_id as user_id,
        registered.first_name as first_name,
        registered.last_name as last_name,
        registered.email as email,
        registered.phone as phone,
        registered.registration_date as registration_date,
        registered.loyalty_status as loyalty_status,
        'event' as known_from
    from registered
    where registered.user_id not in (select exported.user_id from exported)

),

unioned as (

    select * from from_export
    union all
    select * from from_events

),

final as (

    select
        {{ assume_not_null('unioned.user_id') }} as user_id,
        unioned.first_name as first_name,
        unioned.last_name as last_name,
        unioned.email as email,
        unioned.phone as phone,
        unioned.registration_date as registration_date,
        unioned.loyalty_status as loyalty_status,
        unioned.known_from as known_from
    from unioned

)

select * from final
