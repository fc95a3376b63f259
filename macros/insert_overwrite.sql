{#-
    insert_overwrite: one incremental strategy name on every engine.

    A run rebuilds a date window and replaces exactly the partitions present in the new rows,
    atomically; rows of other partitions are never touched. Re-running a day, or a backfill,
    leaves the table identical.

    How a model uses it (facts and dated marts):

        {{ config(
            materialized='incremental',
            incremental_strategy='insert_overwrite',
            partition_by='sale_date',         -- ClickHouse + PostgreSQL: the partition key column(s)
            partition_by_string='sale_date',  -- Vertica: the same key (other adapters ignore it)
            order_by='sale_date, uniq_id',    -- ClickHouse sorting key (non-Nullable columns)
        ) }}

        select ...
        from {{ ref('stg_...') }}
        where {{ incremental_window('sale_date') }}

    Rules:
    - Give order_by as one string ('a, b'), not a list: dbt-vertica writes it verbatim into its
      `order by` clause (a list would render as "['a', 'b']"); dbt-clickhouse accepts both.
    - ClickHouse refuses Nullable columns in keys: wrap key columns computed from text in
      assume_not_null() after filtering their NULLs out.
    - The partition key is a plain, NOT NULL date column (or a list of columns) with the grain of
      the window: a day for daily facts. A coarser partition (a month) would be replaced by only
      the window's days, losing the rest; for weekly marts use grain='week', for monthly
      partitions grain='month' (see below).
    - Filter the model's input with `incremental_window(column, grain)`. It renders
      `column between <start> and <end>` on incremental runs with `--vars '{run_date: D}'`, where
      [start, end] = [D - lookback_days, D] (var lookback_days, default 2, for late data); with
      grain='week' the window is widened to whole ISO weeks: Monday of the week of
      D - lookback_days through Sunday of the week of D; with grain='month' to whole months,
      the first of the month of D - lookback_days through the last of D's. Otherwise (first
      run, --full-refresh, no run_date) it renders `1 = 1` and the model builds all history.
    - Unit tests of such a model must override is_incremental (dbt's own is_incremental needs
      the model's relation, which a unit test does not have, once run_date is set): `false` for
      a full build, or `true` with `vars: {run_date: ...}` to pin the window.
    - The rows a run produces decide which partitions are replaced: every partition with at least
      one new row is replaced whole; a partition of the window with no rows at all is left as it
      was (rebuild with --full-refresh to drop it).

    Per engine:
    - ClickHouse: dbt-clickhouse's native strategy (build the batch in a new table partitioned
      the same way, then `REPLACE PARTITION` for each partition the batch holds).
    - Vertica: dbt-vertica's native strategy (`DROP_PARTITIONS` for each key value in the batch,
      then insert); it needs `partition_by_string`, without which it deletes the whole table.
    - PostgreSQL: this project's strategy, `postgres__get_incremental_insert_overwrite_sql` below,
      run by the incremental materialization in macros/materializations/ (dbt-postgres does not
      accept the builtin name 'insert_overwrite'): delete the rows whose partition key is in the
      batch, insert the batch, in one transaction. The table gets an index on the partition key.
      See docs/incremental.md.
-#}

{#-
    The day this run rebuilds: `--vars '{run_date: D}'`, else the environment's DWH_RUN_DATE, else
    none. The environment is read only while executing: dbt re-parses the whole project whenever
    --vars change, and files whose env_var() values changed at parse time, so the pipeline and the
    DAGs pass the date as DWH_RUN_DATE and a new day costs no parse.
-#}
{% macro run_date() -%}
    {%- set from_vars = var('run_date', none) -%}
    {%- if from_vars is not none and from_vars != '' -%}
        {{ return(from_vars) }}
    {%- elif execute -%}
        {{ return(env_var('DWH_RUN_DATE', '') or none) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#- The window [start, end] (datetime.date) this run rebuilds, or none for all history. -#}
{% macro insert_overwrite_window(grain='day') -%}
    {%- set window = run_window(grain) -%}
    {%- if window is none or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(window) }}
{%- endmacro %}

{#-
    The window [start, end] of the run date, whatever the model: none without a run date.
    grain='week' widens it to whole ISO weeks, grain='month' to whole calendar months.
-#}
{% macro run_window(grain='day') -%}
    {%- if grain not in ['day', 'week', 'month'] -%}
        {{ exceptions.raise_compiler_error(
            "run_window: grain must be 'day', 'week' or 'month', not '" ~ grain ~ "'") }}
    {%- endif -%}
    {%- set run_date = run_date() -%}
    {%- if run_date is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set datetime = modules.datetime -%}
    {#- a date from YAML, or text: 'YYYY-MM-DD' (a timestamp's date part is used) -#}
    {%- set end = datetime.date.fromisoformat((run_date | string)[:10]) -%}
    {%- set start = end - datetime.timedelta(days=var('lookback_days', 2) | int) -%}
    {%- if grain == 'week' -%}
        {%- set start = start - datetime.timedelta(days=start.weekday()) -%}
        {%- set end = end + datetime.timedelta(days=6 - end.weekday()) -%}
    {%- elif grain == 'month' -%}
        {%- set start = start.replace(day=1) -%}
        {#- the day before the first of the next month -#}
        {%- set end = (end.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
            - datetime.timedelta(days=1) -%}
    {%- endif -%}
    {{ return({'start': start, 'end': end}) }}
{%- endmacro %}

{#- A filter for the model's input: the run's window, or `1 = 1` when building all history. -#}
{% macro incremental_window(column, grain='day') -%}
    {{ within(column, insert_overwrite_window(grain)) }}
{%- endmacro %}

{#- `column between <start> and <end>` of a window (see run_window); `1 = 1` for none. -#}
{% macro within(column, window) -%}
    {%- if window is none -%}
        1 = 1
    {%- else -%}
        {{ column }} between {{ date_literal(window.start) }} and {{ date_literal(window.end) }}
    {%- endif -%}
{%- endmacro %}

{#- date_literal(day): a SQL date constant for a datetime.date or 'YYYY-MM-DD' string. -#}
{% macro date_literal(day) -%}
    {{ return(adapter.dispatch('date_literal', 'warehouse')(day)) }}
{%- endmacro %}

{% macro default__date_literal(day) -%}
    date '{{ day }}'
{%- endmacro %}

{% macro clickhouse__date_literal(day) -%}
    toDate('{{ day }}')
{%- endmacro %}

{#- The model's partition key columns (config partition_by), as a list; an error when unset. -#}
{% macro insert_overwrite_partition_keys() -%}
    {%- set partition_by = config.get('partition_by') -%}
    {%- if not partition_by -%}
        {{ exceptions.raise_compiler_error(
            "insert_overwrite needs config partition_by (the partition key column or columns) on "
            ~ this ~ "; without it the whole table would be replaced") }}
    {%- endif -%}
    {{ return([partition_by] if partition_by is string else partition_by | list) }}
{%- endmacro %}

{#-
    PostgreSQL: replace the batch's partitions. Runs inside the materialization's transaction,
    so readers see the old partitions or the new ones, never a mix or nothing.
-#}
{% macro postgres__get_incremental_insert_overwrite_sql(arg_dict) -%}
    {%- set keys = insert_overwrite_partition_keys() -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set batch_partitions -%}
        select distinct {{ keys | join(', ') }} from {{ arg_dict['temp_relation'] }}
    {%- endset -%}
    {#- one key: the batch's few values as an array, found through the key's index (`in` hashes
        them and scans the whole table: 1 s for 3 days of a year of messages, growing) -#}
    delete from {{ arg_dict['target_relation'] }}
    where
        {%- if keys | length == 1 %} {{ postgres__in_subquery(keys[0], batch_partitions) }}
        {%- else %} ({{ keys | join(', ') }}) in ({{ batch_partitions }})
        {%- endif %};

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }};
{%- endmacro %}
