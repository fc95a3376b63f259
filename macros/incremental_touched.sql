{#-
    incremental_touched(relation, partition_column, changed_columns): a filter for insert_overwrite
    models whose rows change after their partition's day: an order's status days after the order,
    a chargeback days after the transaction. Plain incremental_window(partition_column) would leave
    such a partition stale once it is older than the lookback.

    Renders `partition_column in (the partitions of <relation> in the run's window, plus those
    with a row whose <changed_columns> (e.g. the day of its latest version) falls in the window)`,
    so the run rebuilds those partitions whole, from all their rows. `relation` is a ref, or a
    CTE of the model when the rows are computed there (PostgreSQL materializes a CTE read twice,
    every row of it, before filtering). When building all history it renders `1 = 1`, like
    incremental_window.
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

{#-
    `column in (query)`, for a query of a few values (the touched days), or of the keys to look
    up in an indexed column (lookup_indexes).
-#}
{% macro default__in_subquery(column, query) -%}
    {{ column }} in ({{ query }})
{%- endmacro %}

{#-
    PostgreSQL cannot estimate rows that come out of JSON parsing and deduplication: it guesses
    one and joins `in (...)` with a nested loop, rows x rows. An array from the subquery is
    computed once (an InitPlan) and each row checks the few days it holds; on an indexed column
    it is one index scan for all the keys.
-#}
{% macro postgres__in_subquery(column, query) -%}
    {{ column }} = any(array({{ query }}))
{%- endmacro %}

{#-
    changed_keys(key, relation, relation_key=key): a filter for tables built incrementally by key
    (`unique_key` with replace_keys_strategy()): `key in (the keys of <relation>'s rows whose
    day folder, _batch_date, is in the run's window)`, so the run recomputes those keys from all
    their rows and replaces them. `relation_key` is the key as an expression over <relation>
    (a cast of a landed text column, for a staging model reading its source). When building all
    history it renders `1 = 1`.
-#}
{% macro changed_keys(key, relation, relation_key=none) -%}
    {%- set window = insert_overwrite_window() -%}
    {%- if window is none -%}
        1 = 1
    {%- else -%}
        {#- plain `in`: thousands of keys, which PostgreSQL hashes (it would check an array of
            them one by one for every row) -#}
        {{ key }} in (
            select distinct {{ relation_key or key }}
            from {{ relation }}
            where {{ within('_batch_date', window) }}
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
    lookup_indexes(indexes): the `indexes` config of a table that incremental runs look up by key
    (a few thousand keys among millions of rows, or each key's newest row, or the rows of a
    window's days): a B-tree per item of `indexes`, on PostgreSQL. An item is a column, a list
    of columns, or an expression in parentheses written as the filters write it (e.g.
    '(cast(sent_dttm as date))' for incremental_touched's changed columns). None elsewhere:
    ClickHouse reads the one column it filters on, and its `indexes` config means data-skipping
    indexes, in another shape.
-#}
{% macro lookup_indexes(indexes) -%}
    {{ return(adapter.dispatch('lookup_indexes', 'warehouse')(indexes)) }}
{%- endmacro %}

{% macro default__lookup_indexes(indexes) -%}
    {{ return([]) }}
{%- endmacro %}

{% macro postgres__lookup_indexes(indexes) -%}
    {%- set configs = [] -%}
    {%- for columns in indexes -%}
        {%- do configs.append({'columns': [columns] if columns is string else columns}) -%}
    {%- endfor -%}
    {{ return(configs) }}
{%- endmacro %}
