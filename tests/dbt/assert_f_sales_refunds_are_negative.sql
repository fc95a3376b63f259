-- A refunded line takes units and money back: negative quantity and amount; a shipped line
-- is positive. Returns the lines that break this. A daily run checks the weeks around its window.

select
    sale_date,
    uniq_id,
    status,
    quantity,
    payment_amount
from {{ ref('f_sales') }}
where
    {{ tested_weeks('sale_date') }}
    and (
        (status = 'refunded' and (quantity >= 0 or payment_amount >= 0))
        or (status = 'shipped' and (quantity <= 0 or payment_amount < 0))
    )
