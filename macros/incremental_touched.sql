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

{#-
    changed_keys(key, relation): a filter for SCD1 dimensions built incrementally by key
    (`unique_key` with replace_keys_strategy()): `key in (the keys of <relation>'s rows whose
    day folder, _batch_date, is in the run's window)`, so the run recomputes those keys from all
    their rows and replaces them. When building all history it renders `1 = 1`.
-#}
{% macro changed_keys(key, relation) -%}
    {%- set window = insert_overwrite_window() -%}
    {%- if window is none -%}
        1 = 1
    {%- else -%}
        {#- plain `in`: thousands of keys, which PostgreSQL hashes (it would check an array of
            them one by one for every row) -#}
        {{ key }} in (
            select distinct {{ key }} from {{ relation }} where {{ within('_batch_date', window) }}
        )
    {%- endif -%}
{%- endmacro %}

{#-
    The incremental strategy that replaces the rows of the keys a run rebuilds: delete them,
    insert the new ones (dbt's delete+insert; dbt-clickhouse spells it delete_insert and runs a
    lightweight DELETE).
-#}
{% macro replace_keys_strategy() -%}
    {{ return(adapter.dispatch('replace_keys_strategy', 'warehouse')()) }}
{%- endmacro %}

{% macro default__replace_keys_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro clickhouse__replace_keys_strategy() -%}
    {{ return('delete_insert') }}
{%- endmacro %}

{#-
    lookup_indexes(column): the `indexes` config of a table that incremental runs look up by
    `column` (a few thousand keys among millions of rows): a B-tree on PostgreSQL. None
    elsewhere: ClickHouse reads the one column it filters on, and its `indexes` config means
    data-skipping indexes, in another shape.
-#}
{% macro lookup_indexes(column) -%}
    {{ return(adapter.dispatch('lookup_indexes', 'warehouse')(column)) }}
{%- endmacro %}

{% macro default__lookup_indexes(column) -%}
    {{ return([]) }}
{%- endmacro %}

{% macro postgres__lookup_indexes(column) -%}
    {{ return([{'columns': [column]}]) }}
{%- endmacro %}
