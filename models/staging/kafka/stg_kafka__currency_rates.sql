{#-
    A table: d_currency_rates and five tests read it, and each read of a view would scan every
    message of the topic for the few currency ones.
-#}
{{ config(materialized='table') }}

with

messages as (

    select * from {{ ref('stg_kafka__transaction_service_messages') }}
    where object_type = 'CURRENCY'

),

typed as (

    select
        -- keys: the day and the currency pair
        {{ try_cast(clean_text(json_text('doc', 'payload', 'date_update')), 'timestamp') }}
            as date_update_at,
        {{ try_cast(clean_text(json_text('doc', 'payload', 'currency_code')), 'int') }}
            as currency_code,
        {{ try_cast(clean_text(json_text('doc', 'payload', 'currency_code_with')), 'int') }}
            as currency_code_with,

        -- the rate: one unit of currency_code in currency_code_with
        {{ try_cast(clean_text(json_text('doc', 'payload', 'currency_with_div')), 'rate') }}
            as currency_with_div,

        -- timestamps
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
        date_update_at is not null
        and currency_code is not null
        and currency_code_with is not null
        and currency_with_div is not null
        and sent_dttm is not null

),

-- one rate per pair per day: a correction sent later wins
ranked as (

    select
        readable.*,
        cast(readable.date_update_at as date) as date_update,
        row_number() over (
            partition by
                cast(readable.date_update_at as date),
                readable.currency_code,
                readable.currency_code_with
            order by readable.sent_dttm desc, readable._partition desc, readable._offset desc
        ) as version_rank
    from readable

),

latest as (

    select
        date_update,
        currency_code,
        currency_code_with,
        currency_with_div,
        sent_dttm,
        _topic,
        _partition,
        _offset,
        _batch_date,
        _loaded_at
    from ranked
    where version_rank = 1

)

select * from latest
