{#-
    incremental_touched(relation, partition_column, changed_columns): a filter for insert_overwrite
    models whose rows change after their partition's day: an order's status days after the order,
    a chargeback days after the transaction. Plain incremental_window(partition_column) would leave
    such a partition stale once it is older than the lookback.

    Renders `partition_column in (the partitions of <relation> in the run's window, plus those
    with a row whose <changed_columns> (e.g. the day of its latest version) falls in the window)`,
    so the run rebuilds those partitions whole, from all their rows. `relation` is a ref or a CTE
    of the model. When building all history it renders `1 = 1`, like incremental_window.
-#}
{% macro incremental_touched(relation, partition_column, changed_columns) -%}
    {%- if insert_overwrite_window() is none -%}
        1 = 1
    {%- else -%}
        {%- set touched -%}
            select distinct {{ partition_column }}
            from {{ relation }}
            where
                {{ incremental_window(partition_column) }}
                {%- for column in changed_columns %}
                or {{ incremental_window(column) }}
                {%- endfor %}
        {%- endset -%}
        {{ adapter.dispatch('in_subquery', 'warehouse')(partition_column, touched) }}
    {%- endif -%}
{%- endmacro %}

{#- `column in (query)`, for a query of a few values (the touched days). -#}
{% macro default__in_subquery(column, query) -%}
    {{ column }} in ({{ query }})
{%- endmacro %}

{#-
    PostgreSQL cannot estimate rows that come out of JSON parsing and deduplication: it guesses
    one and joins `in (...)` with a nested loop, rows x rows. An array from the subquery is
    computed once (an InitPlan) and each row checks the few days it holds.
-#}
{% macro postgres__in_subquery(column, query) -%}
    {{ column }} = any(array({{ query }}))
{%- endmacro %}
