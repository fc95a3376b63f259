-- global_metrics counts, per day and currency, exactly the done operations between real accounts
-- of dwh.f_transactions: a row here is a (day, currency) where the mart and the fact disagree.
-- A daily run checks the weeks around its window.

with

mart as (

    select
        date_update,
        currency_from,
        cast(cnt_transactions as bigint) as mart_count,
        cast(0 as bigint) as fact_count
    from {{ ref('global_metrics') }}
    where {{ tested_weeks('date_update') }}

),

facts as (

    select
        transaction_date as date_update,
        currency_code as currency_from,
        cast(0 as bigint) as mart_count,
        cast(count(*) as bigint) as fact_count
    from {{ ref('f_transactions') }}
    where
        status = 'done'
        and {{ tested_weeks('transaction_date') }}
        and account_number_from > 0
        and account_number_to > 0
    group by
        transaction_date,
        currency_code

),

both_sides as (

    select * from mart
    union all
    select * from facts

)

select
    date_update,
    currency_from,
    sum(mart_count) as in_mart,
    sum(fact_count) as in_facts
from both_sides
group by
    date_update,
    currency_from
having sum(mart_count) != sum(fact_count)
