{#- regexp_remove(expr, pattern): expr with the first match of the regular expression removed. -#}
{% macro regexp_remove(expr, pattern) -%}
    {{ return(adapter.dispatch('regexp_remove', 'warehouse')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regexp_remove(expr, pattern) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '')
{%- endmacro %}

{% macro clickhouse__regexp_remove(expr, pattern) -%}
    replaceRegexpOne({{ expr }}, '{{ pattern }}', '')
{%- endmacro %}

{% macro vertica__regexp_remove(expr, pattern) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '', 1, 1)
{%- endmacro %}
