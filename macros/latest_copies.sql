{#-
    latest_copies(lines, key, columns): the rest of a staging table that is incremental by day
    folder (`_batch_date`, insert_overwrite) and keeps one copy per `key` across folders: the
    latest export wins (later folder, then later load, then later line), so reloading an old
    day never changes which copy wins.

    `lines`: the CTE of the run's lines (its `where incremental_window('_batch_date')` on the
    landing), with `columns` (the table's columns, in order, `_batch_date`, `_loaded_at` and
    `_line_number` among them). Renders the CTEs that follow it and the final select:
    - a full build keeps the latest copy of each key;
    - a daily run ranks the window's lines with the copies of the same keys stored from other
      folders. The window's folders get their winning lines; a folder outside the window whose
      stored copy lost is rebuilt without it; stored copies that won stay where they are.
-#}
{% macro latest_copies(lines, key, columns) -%}
{%- set incremental = insert_overwrite_window() is not none -%}
{%- set listed = columns | join(',\n        ') -%}
-- the window's lines, and the copies of the same keys stored from other day folders
copies as (

    {{ with_stored_rows(lines, key, columns) }}

),

-- read three times by a daily run, so computed once (the window's lines and their stored
-- copies); a full build reads it once and must not materialize all history
ranked as {% if incremental %}{{ materialized_cte() }} {% endif %}(

    select
        copies.*,
        row_number() over (
            partition by copies.{{ key }}
            order by copies._batch_date desc, copies._loaded_at desc, copies._line_number desc
        ) as delivery_rank
    from copies

),

-- the window's winning copies (every winner when building all history)
winners as (

    select
        {{ listed }}
    from ranked
    where ranked.delivery_rank = 1 and {{ incremental_window('ranked._batch_date') }}

)
{%- if incremental %},

-- stored copies beaten by a line of the window
beaten as (

    select
        ranked.{{ key }},
        ranked._batch_date
    from ranked
    where ranked.delivery_rank > 1 and not {{ incremental_window('ranked._batch_date') }}

),

-- the other rows of the day folders that held a beaten copy: those folders are rebuilt
kept as (

    select
        {{ listed }}
    from {{ this }} as stored
    where
        stored._batch_date in (select beaten._batch_date from beaten)
        and stored.{{ key }} not in (select beaten.{{ key }} from beaten)

)
{%- endif %}

select * from winners
{%- if incremental %}
union all
select * from kept
{%- endif %}
{%- endmacro %}

{#-
    with_stored_rows(lines, key, columns): a query of `lines` (a CTE of the run's window's rows,
    with `columns`, `_batch_date` among them) and, in a daily run, the rows of the same keys that
    {{ this }} stored from day folders outside the window, for a model that keeps one row per
    key ranked by day folder first (the latest export wins). Exact without reading history: a
    stored row is the latest of its key's exports outside the window whenever it came from
    outside; when it came from inside, every export outside is earlier than the window's.
-#}
{% macro with_stored_rows(lines, key, columns) -%}
    {%- set listed = columns | join(',\n        ') -%}
    select
        {{ listed }}
    from {{ lines }}
    {%- if insert_overwrite_window() is not none %}
    union all
    select
        {{ listed }}
    from {{ this }} as stored
    where
        not {{ incremental_window('stored._batch_date') }}
        and {{ adapter.dispatch('in_subquery', 'warehouse')(
            'stored.' ~ key, 'select ' ~ lines ~ '.' ~ key ~ ' from ' ~ lines) }}
    {%- endif %}
{%- endmacro %}
