{#-
    unique_combination: no two rows share the same values of `columns` (a composite key).
    Usage in yml, at model level:
        data_tests:
          - unique_combination:
              arguments:
                columns: [period_id, item_id]
    Rows where every key column is NULL are not compared (as with the builtin `unique`).
-#}
{% test unique_combination(model, columns) %}

    {%- set key = columns | join(', ') -%}

    select
        {{ key }},
        count(*) as occurrences
    from {{ model }}
    where
        {%- for column in columns %}
        {{ 'or ' if not loop.first }}{{ column }} is not null
        {%- endfor %}
    group by {{ key }}
    having count(*) > 1

{% endtest %}
