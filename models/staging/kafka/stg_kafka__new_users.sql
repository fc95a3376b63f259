with

source as (

    select * from {{ source('kafka', 'new_users_events') }}

),

-- a message landed twice has the same coordinates and content: one row per message
messages as (

    select
        _topic,
        _partition,
        _offset,
        min(payload) as payload,
        min(_timestamp) as _timestamp,
        max(_batch_date) as _batch_date,
        max(_loaded_at) as _loaded_at
    from source
    group by
        _topic,
        _partition,
        _offset

),

-- each message's JSON parsed once, for every field read from it
parsed_json as {{ materialized_cte() }} (

    select
        messages.*,
        {{ json_document('messages.payload') }} as doc
    from messages

),

typed as (

    select
        -- ids
        {{ try_cast(clean_text(json_text('doc', 'user_id')), 'int') }} as user_id,

        -- attributes
        {{ clean_text(json_text('doc', 'first_name')) }} as first_name,
        {{ clean_text(json_text('doc', 'last_name')) }} as last_name,
        lower({{ clean_text(json_text('doc', 'email')) }}) as email,
        {{ clean_text(json_text('doc', 'phone')) }} as phone,
        {{ canonical_enum(
            clean_text(json_text('doc', 'loyalty_status')), ['Gold', 'Silver', 'Bronze']
        ) }} as loyalty_status,

        -- timestamps
        cast(
            {{ try_cast(clean_text(json_text('doc', 'registration_date')), 'timestamp') }}
            as date
        ) as registration_date,

        -- load metadata
        _topic,
        _partition,
        _offset,
        _timestamp,
        _batch_date,
        _loaded_at

    from parsed_json

),

-- a registration sent twice: the last message wins
ranked as (

    select
        typed.*,
        row_number() over (
            partition by typed.user_id
            order by typed._timestamp desc nulls last, typed._partition desc, typed._offset desc
        ) as version_rank
    from typed
    where typed.user_id is not null

),

latest as (

    select
        user_id,
        first_name,
        last_name,
        email,
        phone,
        registration_date,
        loyalty_status,
        _topic,
        _partition,
        _offset,
        _timestamp,
        _batch_date,
        _loaded_at
    from ranked
    where version_rank = 1

)

select * from latest
