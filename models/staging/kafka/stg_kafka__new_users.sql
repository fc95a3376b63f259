{#-
    A table, incremental by key (SCD1): a daily run parses the messages landed in its window,
    ranks them with the stored rows of the same users, and replaces those users' rows. Exact: a
    message never leaves the topic, so a stored row can only be beaten by a later message, which
    lands in the window of its day. As a view, the shop users and their tests parsed every
    registration of history, every day. A full build ranks every message.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy=replace_keys_strategy(),
    unique_key='user_id',
    order_by='user_id',
) }}

with

source as (

    select * from {{ source('kafka', 'new_users_events') }}
    where {{ incremental_window('_batch_date') }}

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
        -- a date of the sent timestamp; NULL when missing or unreadable
        {{ try_cast(clean_text(json_text('doc', 'registration_date')), 'date') }}
            as registration_date,

        -- load metadata
        _topic,
        _partition,
        _offset,
        _timestamp,
        _batch_date,
        _loaded_at

    from parsed_json

),

readable as (

    select
        {{ assume_not_null('typed.user_id') }} as user_id,
        typed.first_name,
        typed.last_name,
        typed.email,
        typed.phone,
        typed.registration_date,
        typed.loyalty_status,
        typed._topic,
        typed._partition,
        typed._offset,
        typed._timestamp,
        typed._batch_date,
        typed._loaded_at
    from typed
    where typed.user_id is not null

),

-- the window's registrations, and the rows stored for the same users (a daily run)
candidates as (

    select * from readable
    {%- if insert_overwrite_window() is not none %}
    union all
    select
        stored.user_id,
        stored.first_name,
        stored.last_name,
        stored.email,
        stored.phone,
        stored.registration_date,
        stored.loyalty_status,
        stored._topic,
        stored._partition,
        stored._offset,
        stored._timestamp,
        stored._batch_date,
        stored._loaded_at
    from {{ this }} as stored
    where stored.user_id in (select readable.user_id from readable)
    {%- endif %}

),

-- a registration sent twice: the last message wins; a message both stored and in the window
-- keeps its latest landing, as in a full build
ranked as (

    select
        candidates.*,
        max(candidates._batch_date) over (
            partition by candidates._topic, candidates._partition, candidates._offset
        ) as latest_batch_date,
        max(candidates._loaded_at) over (
            partition by candidates._topic, candidates._partition, candidates._offset
        ) as latest_loaded_at,
        row_number() over (
            partition by candidates.user_id
            order by
                candidates._timestamp desc nulls last,
                candidates._partition desc,
                candidates._offset desc
        ) as version_rank
    from candidates

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
        latest_batch_date as _batch_date,
        latest_loaded_at as _loaded_at
    from ranked
    where version_rank = 1

)

select * from latest
