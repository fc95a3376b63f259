{#-
    One row per operation, partitioned by the day of the operation. A table, not a view: the
    facts and a dozen tests read it. Incremental: a daily run ranks again only the operations
    that sent a message in its window (all of their messages, however old), and rebuilds the
    days those operations belong to (now or before); each such day keeps its other operations
    as they were. A full build ranks every message. See macros/insert_overwrite.sql.
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

{%- set incremental = insert_overwrite_window() is not none %}

with

{%- if incremental %}
-- the operations that sent a message in the window: they are ranked again
window_operations as (

    select distinct operation_id
    from {{ ref('stg_kafka__transaction_service_messages') }}
    where
        object_type = 'TRANSACTION'
        and operation_id is not null
        and {{ incremental_window('_batch_date') }}

),
{%- endif %}

-- every message of the operations ranked (all of them when building all history); looked up
-- first, before any field is parsed (PostgreSQL would otherwise parse every message's fields
-- to filter them)
messages as {{ materialized_cte() }} (

    select * from {{ ref('stg_kafka__transaction_service_messages') }}
    where object_type = 'TRANSACTION'
    {%- if incremental %}
        and {{ adapter.dispatch('in_subquery', 'warehouse')(
            'operation_id', 'select window_operations.operation_id from window_operations'
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
        ) as unknown_status_messages
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
        _topic,
        _partition,
        _offset,
        _batch_date,
        _loaded_at
    from ranked
    where version_rank = 1

)
{%- if incremental %},

-- the days to rebuild: those of the ranked operations, now and as stored before (an operation
-- whose transaction_dt changed moves out of its old day)
touched_days as (

    select latest.transaction_date from latest
    union distinct
    select stored.transaction_date from {{ this }} as stored
    where {{ adapter.dispatch('in_subquery', 'warehouse')(
        'stored.operation_id', 'select window_operations.operation_id from window_operations'
    ) }}

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
{%- if incremental %}
union all
select * from kept
{%- endif %}
