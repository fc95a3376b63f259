{#-
    Incremental by the day a rate is for (`date_update`, insert_overwrite): a daily run ranks
    the CURRENCY messages of its window's days with the rates stored for the same days, and
    replaces those days. Exact: a message never leaves the topic, so a stored rate can only be
    beaten by a later message, which lands in the window of its day. Reading every message of
    the topic for the few currency ones took seconds on ClickHouse (their JSON is spread over
    every part). A full build ranks every message.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='date_update',
    partition_by_string='date_update',
    order_by='date_update, currency_code, currency_code_with',
) }}

with

messages as (

    select * from {{ ref('stg_kafka__transaction_service_messages') }}
    where object_type = 'CURRENCY' and {{ incremental_window('_batch_date') }}

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

readable_rates as (

    select
        {{ assume_not_null('cast(readable.date_update_at as date)') }} as date_update,
        {{ assume_not_null('readable.currency_code') }} as currency_code,
        {{ assume_not_null('readable.currency_code_with') }} as currency_code_with,
        readable.currency_with_div,
        readable.sent_dttm,
        readable._topic,
        readable._partition,
        readable._offset,
        readable._batch_date,
        readable._loaded_at
    from readable

),

-- the window's rates, and the rates stored for the same days (a daily run)
candidates as (

    select * from readable_rates
    {%- if insert_overwrite_window() is not none %}
    union all
    select
        stored.date_update,
        stored.currency_code,
        stored.currency_code_with,
        stored.currency_with_div,
        stored.sent_dttm,
        stored._topic,
        stored._partition,
        stored._offset,
        stored._batch_date,
        stored._loaded_at
    from {{ this }} as stored
    where stored.date_update in (select readable_rates.date_update from readable_rates)
    {%- endif %}

),

-- one rate per pair per day: a correction sent later wins
ranked as (

    select
        candidates.*,
        row_number() over (
            partition by
                candidates.date_update,
                candidates.currency_code,
                candidates.currency_code_with
            order by
                candidates.sent_dttm desc,
                candidates._partition desc,
                candidates._offset desc,
                -- the same message stored and in the window: its latest landing, as a full build
                candidates._loaded_at desc
        ) as version_rank
    from candidates

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
