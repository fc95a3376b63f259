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

),

latest as (

    select
        person_id,
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
