{#-
    The daily run tests what it rebuilt, not all history.

    dbt calls get_where_subquery for the relation a generic test reads (`unique`, `not_null`,
    `accepted_values`, the child side of `relationships`), to apply the test's `where` config.
    With a run date (a daily run), a test of an incremental model also reads only the partitions
    of the ISO weeks around the run's window: `<partition column> between <Monday of the week of
    run date - lookback_days> and <Sunday of the week of the run date>`. Whole weeks, so that the
    weekly marts (partitioned by the Monday of the week) are covered as well as the daily facts.
    Without a run date (`dbt build`, `--full-refresh`) every test reads everything. A model
    incremental by key may name the column in `tested_window_column` (below). Tests of other
    tables and views always read everything; singular tests read the same weeks of dated facts
    and marts through tested_weeks(column), below.

    Trade-off (docs/incremental.md, "What a day's tests read"): partitions a daily run rebuilds
    outside its window (an operation's chargeback weeks later) are tested by the next full build.
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set filters = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do filters.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set column = tested_window_column() -%}
    {%- set window = run_window('week') -%}
    {%- if column and window is not none -%}
        {%- do filters.append(within(column, window)) -%}
    {%- endif -%}
    {%- if filters -%}
        {%- set condition = filters | join(' and ') -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ condition ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#-
    The column a daily run's tests of the incremental model this test is attached to filter on,
    or none: the model's partition column, or its `tested_window_column` config when it is
    incremental by key and every row a run decides carries a day in or after the window there
    (a latest-export-wins table ranked by day folder: the window's keys win with an export of
    the window or a later one, and a later one is a stored row the run wrote back unchanged).
-#}
{% macro tested_window_column() -%}
    {%- set attached = model.get('attached_node') if model is mapping else none -%}
    {%- if not attached or attached not in graph.nodes -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set config = graph.nodes[attached].config -%}
    {%- if config.materialized != 'incremental' -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(config.partition_by if config.partition_by is string
        else config.get('tested_window_column')) }}
{%- endmacro %}

{#-
    For singular tests: `column between <Monday ...> and <Sunday ...>`, the ISO weeks a daily
    run's generic tests read (above), or `1 = 1` without a run date.
-#}
{% macro tested_weeks(column) -%}
    {{ within(column, run_window('week')) }}
{%- endmacro %}
