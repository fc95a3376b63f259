{#-
    A table, not a view: every message's JSON is parsed once, when its day is built, instead of
    on every read of every model and test downstream (the topic only grows). Built like the
    facts: a run rebuilds the days of its window (by `_batch_date`, the day of the message's
    timestamp) and replaces them whole; see macros/insert_overwrite.sql.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='_batch_date',
    partition_by_string='_batch_date',
    order_by='_batch_date, _topic, _partition, _offset',
    indexes=lookup_indexes([['_batch_date', 'operation_id']]),
) }}

with

source as (

    select * from {{ source('kafka', 'transaction_service_input') }}
    where {{ incremental_window('_batch_date') }}

),

-- a message landed twice (a reload, an unmerged ClickHouse part) has the same coordinates and
-- the same content: keep one row per (topic, partition, offset)
messages as (

    select
        _topic,
        _partition,
        _offset,
        min(payload) as payload,
        min(_key) as _key,
        min(_timestamp) as _timestamp,
        max(_batch_date) as _batch_date,
        max(_loaded_at) as _loaded_at
    from source
    group by
        _topic,
        _partition,
        _offset

),

-- each message's JSON parsed once, for every field read from it here and downstream
parsed_json as {{ materialized_cte() }} (

    select
        messages.*,
        {{ json_document('messages.payload') }} as doc
    from messages

),

parsed as (

    select
        -- ids
        lower({{ clean_text(json_text('doc', 'object_id')) }}) as object_id,
        upper({{ clean_text(json_text('doc', 'object_type')) }}) as object_type,
        -- what the transaction models key on and look up (NULL for other object types)
        lower({{ clean_text(json_text('doc', 'payload', 'operation_id')) }}) as operation_id,

        -- timestamps
        {{ try_cast(clean_text(json_text('doc', 'sent_dttm')), 'timestamp') }} as sent_dttm,

        -- the whole message, parsed: the models per object type read their fields from it
        doc,

        -- load metadata
        _topic,
        _partition,
        _offset,
        _key,
        _timestamp,
        _batch_date,
        _loaded_at

    from parsed_json

)

select * from parsed
