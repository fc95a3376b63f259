{#-
    A table, not a view: the facts and a dozen tests read it, and each read of a view would rank
    every message of the topic again. Rebuilt whole each run from the parsed messages.
-#}
{{ config(materialized='table') }}

with

messages as (

    select * from {{ ref('stg_kafka__transaction_service_messages') }}
    where object_type = 'TRANSACTION'

),

typed as (

    select
        -- ids
        lower({{ clean_text(json_text('doc', 'payload', 'operation_id')) }}) as operation_id,
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
        cast(readable.transaction_dt as date) as transaction_date,
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
        operation_id,
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

select * from latest
