{#-
    latest_line(candidates, lines, key, columns, required=columns): a query of one row per key,
    `key` and `columns`, for the SCD1 dimensions of the order log (d_city, d_item, d_customer):
    the values of the key's latest line among those where every `required` column is set (the
    latest `ordered_at`, then the later day folder, then the later `uniq_id`); NULLs when there
    is none. The keys are those of `lines` (the order lines) in the run's window (`_batch_date`,
    as changed_keys), or every key when building all history. Their latest lines are looked for
    among `candidates`, int_order_lines__latest_per_month: each month's latest lines, a few per
    key and month instead of all of them. It keeps the latest line of each key for the
    `required` columns the three dimensions ask for: a new `required` set must be kept there too.

    Per engine, the same answer:
    - default (ClickHouse, Vertica): each key's latest moment by a hash aggregate, then the
      lines of that moment ranked: no sort of all the keys' lines (ClickHouse: ~0.1 s a pass over
      a year of lines; an argMax by the (ordered_at, _batch_date, uniq_id) tuple took 0.6 s).
    - PostgreSQL: one index probe per key, newest line first: the candidates have a B-tree on
      `(key, ordered_at, _batch_date, uniq_id)` (lookup_indexes). The same cities, items and
      most customers come back every day, so a pass over their lines would read most of the
      table every day.
-#}
{% macro latest_line(candidates, lines, key, columns, required=none) -%}
    {%- set required = columns if required is none else required -%}
    select
        keys.{{ key }}
        {%- for column in columns %},
        latest.{{ column }}
        {%- endfor %}
    -- the keys a run recomputes: those of its window's lines, or all
    from (
        select distinct window_lines.{{ key }}
        from {{ lines }} as window_lines
        where
            window_lines.{{ key }} is not null
            and {{ incremental_window('window_lines._batch_date') }}
    ) as keys
    {{ adapter.dispatch('latest_line_join', 'warehouse')(candidates, lines, key, columns, required) }}
{%- endmacro %}

{#- `left join <each key's latest line> as latest on ...`, for latest_line. -#}
{% macro default__latest_line_join(candidates, lines, key, columns, required) -%}
    left join (
        select
            moment_lines.{{ key }},
            {%- for column in columns %}
            moment_lines.{{ column }},
            {%- endfor %}
            row_number() over (
                partition by moment_lines.{{ key }}
                order by moment_lines._batch_date desc, moment_lines.uniq_id desc
            ) as line_rank
        from {{ candidates }} as moment_lines
        inner join (
            select
                candidate_lines.{{ key }},
                max(candidate_lines.ordered_at) as ordered_at
            from {{ candidates }} as candidate_lines
            where
                {{ changed_keys(key, lines) }}
                {%- for column in required %}
                and candidate_lines.{{ column }} is not null
                {%- endfor %}
            group by candidate_lines.{{ key }}
        ) as latest_moments
            on
                moment_lines.{{ key }} = latest_moments.{{ key }}
                and moment_lines.ordered_at = latest_moments.ordered_at
        {%- for column in required %}
        {{ 'where' if loop.first else 'and' }} moment_lines.{{ column }} is not null
        {%- endfor %}
    ) as latest
        on keys.{{ key }} = latest.{{ key }} and latest.line_rank = 1
{%- endmacro %}

{% macro postgres__latest_line_join(candidates, lines, key, columns, required) -%}
    left join lateral (
        select
            {%- for column in columns %}
            key_lines.{{ column }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ candidates }} as key_lines
        where
            key_lines.{{ key }} = keys.{{ key }}
            and key_lines.ordered_at is not null
            {%- for column in required %}
            and key_lines.{{ column }} is not null
            {%- endfor %}
        order by key_lines.ordered_at desc, key_lines._batch_date desc, key_lines.uniq_id desc
        limit 1
    ) as latest on true
{%- endmacro %}
