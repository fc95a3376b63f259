{#-
    Indexed on PostgreSQL by the day columns of an operation's latest message, which
    global_metrics' daily run looks up (incremental_touched) among a year of operations.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='transaction_date',
    partition_by_string='transaction_date',
    order_by=['transaction_date', 'operation_id'],
    indexes=lookup_indexes(['_batch_date', '(cast(sent_dttm as date))']),
) }}

with

transactions as (

    select * from {{ ref('stg_kafka__transactions') }}

),

-- the days this run rebuilds: the window, and the days of operations whose latest status came
-- in the window (a chargeback days after the transaction)
rebuilt as (

    select
        -- keys
        {{ assume_not_null('transactions.transaction_date') }} as transaction_date,
        {{ assume_not_null('transactions.operation_id') }} as operation_id,

        -- accounts
        transactions.account_number_from as account_number_from,
        transactions.account_number_to as account_number_to,

        -- attributes
        transactions.currency_code as currency_code,
        transactions.country as country,
        transactions.status as status,
        transactions.transaction_type as transaction_type,

        -- amounts
        transactions.amount as amount,

        -- timestamps
        transactions.transaction_dt as transaction_dt,
        transactions.sent_dttm as sent_dttm,

        -- load metadata
        transactions._batch_date as _batch_date

    from transactions
    where
        {{ incremental_touched(
            ref('stg_kafka__transactions'),
            'transaction_date',
            ['cast(sent_dttm as date)', '_batch_date'],
        ) }}

)

select * from rebuilt
