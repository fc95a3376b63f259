{#-
    One row per operation, partitioned by the day of the operation. A table, not a view: the
    facts and a dozen tests read it. Incremental: a daily run ranks again only the operations
    that sent a message in its window, with all of their messages, and rebuilds the days those
    operations belong to (now or before); each such day keeps its other operations as they were.
    A full build ranks every message. See macros/insert_overwrite.sql.
    The messages outside the window are found through the load batches (`_batch_date`) of each
    stored operation's first and last message, kept here: an operation ranked before had all
    of its messages within them, and a message staged since then was staged by a run whose
    window held it, which ranked the operation again. So the day reads the window's messages
    and the few days around it where its operations began or ended, never the whole topic (on
    PostgreSQL, through the messages' (`_batch_date`, `operation_id`) index, whose new entries
    stay with their day instead of spreading over an index of all history).
    Indexed on PostgreSQL by operation (the stored operations of the window) and by the day
    columns of an operation's latest message (f_transactions' touched days).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='transaction_date',
    partition_by_string='transaction_date',
    order_by='transaction_date, operation_id',
    indexes=lookup_indexes(['operation_id', '_batch_date', '(cast(sent_dttm as date))']),
) }}

{%- set window = insert_overwrite_window() %}

with

-- the window's messages: every operation with one of them is ranked again (every message when
-- building all history)
window_messages as {% if window is not none %}{{ materialized_cte() }} {% endif %}(

    select * from {{ ref('stg_kafka__transaction_service_messages') }}
    where object_type = 'TRANSACTION' and {{ incremental_window('_batch_date') }}

),

{%- if window is not none %}

window_operations as (

    select distinct operation_id
    from window_messages
    where operation_id is not null

),

-- the window's operations ranked before, where they were and the batches their messages span
stored_operations as {{ materialized_cte() }} (

    select
        stored.operation_id,
        stored.transaction_date,
        stored.first_batch_date,
        stored.last_batch_date
    from {{ this }} as stored
    where {{ adapter.dispatch('in_subquery', 'warehouse')(
        'stored.operation_id', 'select window_operations.operation_id from window_operations'
    ) }}

),

-- those with messages outside the window
reaching_out as (

    select
        stored_operations.operation_id,
        stored_operations.first_batch_date,
        stored_operations.last_batch_date
    from stored_operations
    where not (
        {{ within('stored_operations.first_batch_date', window) }}
        and {{ within('stored_operations.last_batch_date', window) }}
    )

),
{%- endif %}

-- every message of the operations ranked: the window's, and theirs outside it (looked up by
-- batch first, before any field is parsed)
messages as (

    select * from window_messages
    {%- if window is not none %}
    union all
    select * from {{ ref('stg_kafka__transaction_service_messages') }}
    where
        object_type = 'TRANSACTION'
        and not {{ incremental_window('_batch_date') }}
        and _batch_date between (select min(reaching_out.first_batch_date) from reaching_out)
        and (select max(reaching_out.last_batch_date) from reaching_out)
        and {{ adapter.dispatch('in_subquery', 'warehouse')(
            'operation_id', 'select reaching_out.operation_id from reaching_out'
        ) }}
    {%- endif %}

),

typed as (

    select
        -- ids
        messages.operation_id as operation_id,
        messages.object_id as object_id,
        {{ try_cast(clean_text(json_text('doc', 'payload', 'account_number_from')), 'int') }}
            as account_number_from,
        {{ try_cast(clean_text(json_text('doc', 'payload', 'account_number_to')), 'int') }}
            as account_number_to,

        -- attributes
        {{ try_cast(clean_text(json_text('doc', 'payload', 'currency_code')), 'int') }}
            as currency_code,
        {{ clean_text(json_text('doc', 'payload', 'country')) }} as country,
        lower({{ clean_text(json_text('doc', 'payload', 'status')) }}) as status,
        lower({{ clean_text(json_text('doc', 'payload', 'transaction_type')) }})
            as transaction_type,

        -- amounts
        {{ try_cast(clean_text(json_text('doc', 'payload', 'amount')), 'numeric') }} as amount,

        -- timestamps
        {{ try_cast(clean_text(json_text('doc', 'payload', 'transaction_dt')), 'timestamp') }}
            as transaction_dt,
        messages.sent_dttm as sent_dttm,

        -- load metadata
        messages._topic as _topic,
        messages._partition as _partition,
        messages._offset as _offset,
        messages._batch_date as _batch_date,
        messages._loaded_at as _loaded_at

    from messages

),

readable as (

    select * from typed
    where
        operation_id is not null
        and sent_dttm is not null
        and transaction_dt is not null

),

versions as (

    select
        readable.*,
        {{ assume_not_null('cast(readable.transaction_dt as date)') }} as transaction_date,
        readable.status in ('queued', 'in_progress', 'done', 'chargeback') as is_known_status,
        case
            when readable.status in ('queued', 'in_progress', 'done', 'chargeback')
                then readable.status
        end as known_status
    from readable

),

-- one message per status change: the latest one (by sent_dttm, then position in the topic)
-- wins; a message with a status outside the enum is not a status change (counted, not used)
ranked as (

    select
        versions.*,
        row_number() over (
            partition by versions.operation_id
            order by
                case when versions.is_known_status then 0 else 1 end,
                versions.sent_dttm desc,
                versions._partition desc,
                versions._offset desc
        ) as version_rank,
        sum(case when versions.is_known_status then 0 else 1 end) over (
            partition by versions.operation_id
        ) as unknown_status_messages,
        min(versions._batch_date) over (partition by versions.operation_id) as first_batch_date,
        max(versions._batch_date) over (partition by versions.operation_id) as last_batch_date
    from versions

),

latest as (

    select
        {{ assume_not_null('operation_id') }} as operation_id,
        object_id,
        account_number_from,
        account_number_to,
        currency_code,
        country,
        known_status as status,
        transaction_type,
        amount,
        transaction_dt,
        transaction_date,
        sent_dttm,
        unknown_status_messages,
        first_batch_date,
        last_batch_date,
        _topic,
        _partition,
        _offset,
        _batch_date,
        _loaded_at
    from ranked
    where version_rank = 1

)
{%- if window is not none %},

-- the days to rebuild: those of the ranked operations, now and as stored before (an operation
-- whose transaction_dt changed moves out of its old day)
touched_days as (

    select latest.transaction_date from latest
    union distinct
    select stored_operations.transaction_date from stored_operations

),

-- the other operations of those days, as they were
kept as (

    select stored.*
    from {{ this }} as stored
    where
        {{ adapter.dispatch('in_subquery', 'warehouse')(
            'stored.transaction_date', 'select touched_days.transaction_date from touched_days'
        ) }}
        and stored.operation_id not in (
            select window_operations.operation_id from window_operations
        )

)
{%- endif %}

select * from latest
{%- if window is not none %}
union all
select * from kept
{%- endif %}
