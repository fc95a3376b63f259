{#-
    A table, not a view, incremental by day folder (`_batch_date`): a daily run types the lines
    of its window's folders and ranks them with the stored copies of the same `uniq_id` from
    other folders (macros/latest_copies.sql); its tests read the window's weeks only. A full
    build ranks every line.
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

    select * from {{ source('s3', 'user_activity_log') }}
    where {{ incremental_window('_batch_date') }}

),

typed as (

    select
        -- ids
        {{ clean_text('uniq_id') }} as uniq_id,
        {{ try_cast(clean_text('action_id'), 'int') }} as action_id,
        {{ try_cast(clean_text('customer_id'), 'int') }} as customer_id,

        -- amounts
        {{ try_cast(clean_text('quantity'), 'int') }} as quantity,

        -- timestamps
        {{ try_cast(clean_text('date_time'), 'timestamp') }} as acted_at,

        -- load metadata
        _source_file,
        _line_number,
        _batch_date,
        _loaded_at

    from source

),

lines as (

    select
        typed.*,
        cast(typed.acted_at as date) as activity_date
    from typed

),

-- a re-delivered action keeps its uniq_id: the latest export of it wins
{{ latest_copies('lines', 'uniq_id', [
    'uniq_id', 'action_id', 'customer_id', 'quantity', 'acted_at', 'activity_date',
    '_source_file', '_line_number', '_batch_date', '_loaded_at',
]) }}
