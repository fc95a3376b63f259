{#-
    Vertica: dbt-vertica's incremental materialization calls this macro by name to pick the
    strategy; this project's version (root macros take precedence) adds one guard. Its
    insert_overwrite without `partition_by_string` deletes the whole table before inserting the
    batch, so a model that forgot the setting would lose all history outside the window: refuse it.
-#}
{% macro vertica__validate_get_incremental_strategy(config) -%}
    {%- set strategy = config.get('incremental_strategy') or 'append' -%}
    {%- set known = ['merge', 'delete+insert', 'insert_overwrite', 'append', 'microbatch'] -%}
    {%- if strategy not in known -%}
        {{ exceptions.raise_compiler_error(
            "Invalid incremental strategy provided: " ~ strategy ~ "; expected one of: "
            ~ known | join(', ')) }}
    {%- endif -%}
    {%- if strategy == 'insert_overwrite' and not config.get('partition_by_string') -%}
        {{ exceptions.raise_compiler_error(
            "insert_overwrite on Vertica needs config partition_by_string (the partition key) on "
            ~ this ~ "; without it dbt-vertica would replace the whole table") }}
    {%- endif -%}
    {{ return(strategy) }}
{%- endmacro %}
