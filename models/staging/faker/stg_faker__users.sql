{#-
    A table, incremental by key (SCD1, as stg_faker__order_details): a daily run ranks the users
    exported in its window with the rows stored for the same users and replaces their rows; a
    full build ranks every export.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='user_id',
    order_by='user_id',
    indexes=lookup_indexes(['user_id']),
    tested_window_column='_batch_date',
) }}

{#- the table's columns, in order -#}
{%- set columns = [
    'user_id',
    'first_name',
    'last_name',
    'email',
    'phone',
    'registration_date',
    'loyalty_status',
    '_batch_date',
    '_loaded_at',
] %}

with

source as (

    select * from {{ source('faker', 'users') }}
    where {{ incremental_window('_batch_date') }}

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
        -- a date of the exported timestamp; NULL when missing or unreadable
        {{ try_cast(clean_text('registration_date'), 'date') }} as registration_date,

        -- load metadata
        _batch_date,
        _loaded_at

    from source

),

exports as (

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
    from typed
    where user_id is not null

),

-- the window's exports and the rows stored for the same users
versions as (

    {{ with_stored_rows('exports', 'user_id', columns) }}

),

-- a user exported again on a later day with changes: the latest export wins
ranked as (

    select
        versions.*,
        row_number() over (
            partition by versions.user_id
            order by versions._batch_date desc, versions._loaded_at desc
        ) as version_rank
    from versions

),

latest as (

    select {{ columns | join(', ') }}
    from ranked
    where version_rank = 1

)

select * from latest
