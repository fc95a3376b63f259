{#-
    A table, not a view: f_sales, three dimensions and the tests read it, and a view would rank
    every line ever landed for each of them. Incremental by day folder (`_batch_date`): a daily
    run types the lines of its window's folders and ranks them with the stored copies of the
    same `uniq_id` from other folders (macros/latest_copies.sql). A full build ranks every line.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='_batch_date',
    partition_by_string='_batch_date',
    order_by='_batch_date',
    indexes=lookup_indexes(['uniq_id']),
) }}

with

source as (

    select * from {{ source('s3', 'user_order_log') }}
    where {{ incremental_window('_batch_date') }}

),

typed as (

    select
        -- ids
        {{ clean_text('uniq_id') }} as uniq_id,
        {{ try_cast(clean_text('city_id'), 'int') }} as city_id,
        {{ try_cast(clean_text('customer_id'), 'int') }} as customer_id,
        {{ try_cast(clean_text('item_id'), 'int') }} as item_id,

        -- attributes
        {{ clean_text('city_name') }} as city_name,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        {{ clean_text('item_name') }} as item_name,
        -- old exports have no status column: every line of theirs was shipped
        coalesce(lower({{ clean_text('status') }}), 'shipped') as status,

        -- amounts, as exported (positive for refunds too)
        {{ try_cast(clean_text('quantity'), 'int') }} as exported_quantity,
        {{ try_cast(clean_text('payment_amount'), 'numeric') }} as exported_payment_amount,

        -- timestamps
        {{ try_cast(clean_text('date_time'), 'timestamp') }} as ordered_at,

        -- load metadata
        _source_file,
        _line_number,
        _batch_date,
        _loaded_at

    from source

),

lines as (

    select
        -- ids
        uniq_id,
        city_id,
        customer_id,
        item_id,

        -- attributes
        city_name,
        first_name,
        last_name,
        item_name,
        status,

        -- timestamps
        ordered_at,

        -- load metadata
        _source_file,
        _line_number,
        _batch_date,
        _loaded_at,

        -- the day of the order line
        cast(ordered_at as date) as sale_date,

        -- amounts: a refund takes quantity and money back, so it is negative
        case
            when status = 'refunded' then -abs(exported_quantity) else exported_quantity
        end as quantity,
        case
            when status = 'refunded' then -abs(exported_payment_amount) else exported_payment_amount
        end as payment_amount

    from typed

),

{{ latest_copies('lines', 'uniq_id', [
    'uniq_id', 'city_id', 'customer_id', 'item_id',
    'city_name', 'first_name', 'last_name', 'item_name', 'status',
    'ordered_at', '_source_file', '_line_number', '_batch_date', '_loaded_at',
    'sale_date', 'quantity', 'payment_amount',
]) }}
