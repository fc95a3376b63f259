with

source as (

    select * from {{ source('s3', 'user_order_log') }}

),

typed as (

    select
        -- ids
        {{ clean_text('uniq_id') }} as uniq_id,
        {{ try_cast(clean_text('city_id'), 'int') }} as city_id,
        {{ try_cast(clean_text('customer_id'), 'int') }} as customer_id,
        {{ try_cast(clean_text('item_id'), 'int') }} as item_id,

        -- attributes
        {{ clean_text('city_name') }} as city_name,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        {{ clean_text('item_name') }} as item_name,
        -- old exports have no status column: every line of theirs was shipped
        coalesce(lower({{ clean_text('status') }}), 'shipped') as status,

        -- amounts, as exported (positive for refunds too)
        {{ try_cast(clean_text('quantity'), 'int') }} as exported_quantity,
        {{ try_cast(clean_text('payment_amount'), 'numeric') }} as exported_payment_amount,

        -- timestamps
        {{ try_cast(clean_text('date_time'), 'timestamp') }} as ordered_at,

        -- load metadata
        _source_file,
        _line_number,
        _batch_date,
        _loaded_at

    from source

),

-- a re-delivered line keeps its uniq_id: keep the latest export of it (later day folder, then
-- later load, then later line), so reloading an old day never changes which copy wins
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
        -- ids
        uniq_id,
        city_id,
        customer_id,
        item_id,

        -- attributes
        city_name,
        first_name,
        last_name,
        item_name,
        status,

        -- timestamps
        ordered_at,

        -- load metadata
        _source_file,
        _line_number,
        _batch_date,
        _loaded_at,

        -- the day of the order line
        cast(ordered_at as date) as sale_date,

        -- amounts: a refund takes quantity and money back, so it is negative
        case
            when status = 'refunded' then -abs(exported_quantity) else exported_quantity
        end as quantity,
        case
            when status = 'refunded' then -abs(exported_payment_amount) else exported_payment_amount
        end as payment_amount

    from ranked
    where delivery_rank = 1

)

select * from deduplicated
