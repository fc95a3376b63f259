{#-
    A table, incremental by key (SCD1, as stg_faker__orders): a daily run recomputes the users
    exported in its window from all their exports and replaces their rows; a full build computes
    every one.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='user_id',
    order_by='user_id',
) }}

with

source as (

    select * from {{ source('faker', 'users') }}

),

typed as (

    select
        -- ids
        {{ try_cast(clean_text('user_id'), 'int') }} as user_id,

        -- attributes
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        lower({{ clean_text('email') }}) as email,
        {{ clean_text('phone') }} as phone,
        {{ canonical_enum(clean_text('loyalty_status'), ['Gold', 'Silver', 'Bronze']) }}
            as loyalty_status,

        -- timestamps
        cast({{ try_cast(clean_text('registration_date'), 'timestamp') }} as date)
            as registration_date,

        -- load metadata
        _batch_date,
        _loaded_at

    from source

),

-- a user exported again on a later day with changes: the latest export wins
ranked as (

    select
        typed.*,
        row_number() over (
            partition by typed.user_id
            order by typed._batch_date desc, typed._loaded_at desc
        ) as version_rank
    from typed
    where
        typed.user_id is not null
        and {{ changed_keys(
            'typed.user_id',
            source('faker', 'users'),
            try_cast(clean_text('user_id'), 'int'),
        ) }}

),

latest as (

    select
        {{ assume_not_null('user_id') }} as user_id,
        first_name,
        last_name,
        email,
        phone,
        registration_date,
        loyalty_status,
        _batch_date,
        _loaded_at
    from ranked
    where version_rank = 1

)

select * from latest
