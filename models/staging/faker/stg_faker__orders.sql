{#-
    A table, incremental by key (SCD1 like the dimensions): an order is exported again on each
    day its status changes, so a daily run recomputes the orders exported in its window from all
    their exports and replaces their rows; a full build computes every one. A view would rank
    every export of history for each reader, every day.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='order_id',
    order_by='order_id',
) }}

with

source as (

    select * from {{ source('faker', 'orders') }}

),

typed as (

    select
        -- ids
        {{ try_cast(clean_text('order_id'), 'int') }} as order_id,
        {{ try_cast(clean_text('user_id'), 'int') }} as user_id,

        -- status as exported; a value outside the enum is kept here to be counted below
        {{ canonical_enum(clean_text('status'), ['Pending', 'Completed', 'Cancelled']) }}
            as exported_status,

        -- amounts
        {{ try_cast(clean_text('total_amount'), 'numeric') }} as total_amount,

        -- timestamps
        {{ try_cast(clean_text('order_date'), 'timestamp') }} as ordered_at,
        {{ try_cast(clean_text('delivery_date'), 'timestamp') }} as delivered_at,

        -- load metadata
        _batch_date,
        _loaded_at

    from source

),

versions as (

    select
        typed.*,
        cast(typed.ordered_at as date) as order_date,
        typed.exported_status in ('Pending', 'Completed', 'Cancelled') as is_known_status,
        case
            when typed.exported_status in ('Pending', 'Completed', 'Cancelled')
                then typed.exported_status
        end as known_status
    from typed
    where
        typed.order_id is not null
        and typed.ordered_at is not null
        and {{ changed_keys(
            'typed.order_id',
            source('faker', 'orders'),
            try_cast(clean_text('order_id'), 'int'),
        ) }}

),

-- an order is exported again on each day its status changes: the latest export wins, but a
-- version with a status outside the enum is not a status change (it is counted, not used)
ranked as (

    select
        versions.*,
        row_number() over (
            partition by versions.order_id
            order by
                case when versions.is_known_status then 0 else 1 end,
                versions._batch_date desc,
                versions._loaded_at desc
        ) as version_rank,
        sum(case when versions.is_known_status then 0 else 1 end) over (
            partition by versions.order_id
        ) as unknown_status_versions
    from versions

),

latest as (

    select
        {{ assume_not_null('order_id') }} as order_id,
        user_id,
        ordered_at,
        order_date,
        total_amount,
        known_status as status,
        delivered_at,
        unknown_status_versions,
        _batch_date,
        _loaded_at
    from ranked
    where version_rank = 1

)

select * from latest
