{#-
    A table, incremental by key (SCD1, as stg_faker__users): a person gets a new version on the
    day they move or are removed, so a daily run recomputes the persons with a version in its
    window from all their versions and replaces their rows; a full build computes every one. A
    view would rank every version of history for each reader (the mart and four tests), every
    day.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='person_id',
    order_by='person_id',
) }}

with

source as (

    select * from {{ source('faker', 'persons') }}

),

typed as (

    select
        -- ids
        lower(trim(id)) as person_id,

        -- attributes
        trim(name) as person_name,
        {{ try_cast('trim(age)', 'int') }} as age,
        trim(address) as address,
        {{ city_from_address('trim(address)') }} as city,
        lower(trim(email)) as email,
        nullif(trim(phone_number), '') as phone_number,

        -- timestamps
        {{ try_cast('trim(registration_date)', 'date') }} as registration_date,
        {{ try_cast('trim(created_at)', 'timestamp') }} as created_at,
        {{ try_cast('trim(updated_at)', 'timestamp') }} as updated_at,
        {{ try_cast('trim(deleted_at)', 'timestamp') }} as deleted_at,

        -- load metadata
        _batch_date,
        _loaded_at

    from source

),

ranked as (

    select
        typed.*,
        row_number() over (
            partition by typed.person_id
            order by typed.updated_at desc, typed._loaded_at desc
        ) as version_rank
    from typed
    where {{ changed_keys('typed.person_id', source('faker', 'persons'), 'lower(trim(id))') }}

),

latest as (

    select
        -- never NULL: the loader rejects a person whose id is not a UUID
        {{ assume_not_null('person_id') }} as person_id,
        person_name,
        age,
        address,
        city,
        email,
        phone_number,
        registration_date,
        created_at,
        updated_at,
        deleted_at,
        _batch_date,
        _loaded_at,
        deleted_at is not null as is_deleted
    from ranked
    where version_rank = 1

)

select * from latest
