with

source as (

    select * from {{ source('s3', 'user_activity_log') }}

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

-- a re-delivered action keeps its uniq_id: keep the latest export of it
ranked as (

    select
        typed.*,
        row_number() over (
            partition by typed.uniq_id
            order by typed._batch_date desc, typed._loaded_at desc, typed._line_number desc
        ) as delivery_rank
    from typed

),

deduplicated as (

    select
        uniq_id,
        action_id,
        customer_id,
        quantity,
        acted_at,
        cast(acted_at as date) as activity_date,
        _source_file,
        _line_number,
        _batch_date,
        _loaded_at
    from ranked
    where delivery_rank = 1

)

select * from deduplicated
