-- A refunded line takes units and money back: negative quantity and amount; a shipped line
-- is positive. Returns the lines that break this.

select
    sale_date,
    uniq_id,
    status,
    quantity,
    payment_amount
from {{ ref('f_sales') }}
where
    (status = 'refunded' and (quantity >= 0 or payment_amount >= 0))
    or (status = 'shipped' and (quantity <= 0 or payment_amount < 0))
