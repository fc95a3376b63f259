{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='date_update',
    partition_by_string='date_update',
    order_by=['date_update', 'currency_from'],
) }}

{%- set usd = var('usd_currency_code', 420) %}

with

transactions as (

    select * from {{ ref('f_transactions') }}

),

rates as (

    select * from {{ ref('d_currency_rates') }}

),

-- the operations that count: finished (latest status done), between real accounts, on the days
-- this run rebuilds (a chargeback days later takes its operation out of its day)
counted as (

    select
        transactions.transaction_date as date_update,
        {{ assume_not_null('transactions.currency_code') }} as currency_from,
        transactions.account_number_from as account_number_from,
        transactions.amount as amount
    from transactions
    where
        transactions.status = 'done'
        and transactions.account_number_from > 0
        and transactions.account_number_to > 0
        and transactions.currency_code is not null
        and {{ incremental_touched(
            ref('f_transactions'), 'transaction_date', ['cast(sent_dttm as date)', '_batch_date']
        ) }}

),

daily as (

    select
        counted.date_update as date_update,
        counted.currency_from as currency_from,
        sum(counted.amount) as amount,
        count(*) as cnt_transactions,
        count(distinct counted.account_number_from) as cnt_accounts_make_transactions
    from counted
    group by
        counted.date_update,
        counted.currency_from

),

-- the rate of each day: the latest published on or before it (a day may have none of its own)
rate_candidates as (

    select
        daily.date_update as date_update,
        daily.currency_from as currency_from,
        rates.currency_with_div as currency_with_div,
        row_number() over (
            partition by daily.date_update, daily.currency_from
            order by rates.date_update desc
        ) as rate_rank
    from daily
    inner join rates
        on
            daily.currency_from = rates.currency_code
            and rates.currency_code_with = {{ usd }}
    where rates.date_update <= daily.date_update

),

day_rates as (

    select
        rate_candidates.date_update,
        rate_candidates.currency_from,
        rate_candidates.currency_with_div
    from rate_candidates
    where rate_candidates.rate_rank = 1

),

final as (

    select
        -- keys
        daily.date_update as date_update,
        daily.currency_from as currency_from,

        -- amounts: in USD, NULL when no rate is known yet for the currency
        cast(
            round(
                daily.amount
                * case
                    when daily.currency_from = {{ usd }} then cast(1 as decimal(18, 6))
                    else day_rates.currency_with_div
                end,
                2
            ) as decimal(18, 2)
        ) as amount_total,

        -- counts
        daily.cnt_transactions as cnt_transactions,
        cast(
            round(
                cast(daily.cnt_transactions as decimal(18, 6))
                / daily.cnt_accounts_make_transactions,
                2
            ) as decimal(18, 2)
        ) as avg_transactions_per_account,
        daily.cnt_accounts_make_transactions as cnt_accounts_make_transactions

    from daily
    left join day_rates
        on
            daily.date_update = day_rates.date_update
            and daily.currency_from = day_rates.currency_from

)

select
    date_update,
    currency_from,
    amount_total,
    cnt_transactions,
    avg_transactions_per_account,
    cnt_accounts_make_transactions
from final
