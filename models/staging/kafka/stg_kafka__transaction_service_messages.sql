with

source as (

    select * from {{ source('kafka', 'transaction_service_input') }}

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

parsed as (

    select
        -- ids
        lower({{ clean_text(json_text('payload', 'object_id')) }}) as object_id,
        upper({{ clean_text(json_text('payload', 'object_type')) }}) as object_type,

        -- timestamps
        {{ try_cast(clean_text(json_text('payload', 'sent_dttm')), 'timestamp') }} as sent_dttm,

        -- the message as it arrived; the object's fields are read by the models per object type
        payload,

        -- load metadata
        _topic,
        _partition,
        _offset,
        _key,
        _timestamp,
        _batch_date,
        _loaded_at

    from messages

)

select * from parsed
