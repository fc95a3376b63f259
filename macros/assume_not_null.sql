{#-
    assume_not_null(expr): the same value, typed NOT NULL where the engine tracks nullability in
    the type. ClickHouse refuses Nullable columns in a sorting or partition key, and a key column
    computed from text (try_cast) is Nullable there even after filtering NULLs out. Only for values
    the query has already made non-NULL: on ClickHouse a NULL would become the type's default.
-#}
{% macro assume_not_null(expr) -%}
    {{ return(adapter.dispatch('assume_not_null', 'warehouse')(expr)) }}
{%- endmacro %}

{% macro default__assume_not_null(expr) -%}
    {{ expr }}
{%- endmacro %}

{% macro clickhouse__assume_not_null(expr) -%}
    assumeNotNull({{ expr }})
{%- endmacro %}
