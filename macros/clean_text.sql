{#-
    clean_text(expr): text with surrounding whitespace (spaces, tabs, line breaks) removed, and
    NULL when nothing is left. Plain trim() only removes spaces on PostgreSQL and ClickHouse, and
    exports pad values with tabs too; `trim(both <chars> from ...)` is the same on every engine.
-#}
{% macro clean_text(expr) -%}
    nullif(trim(both '{{ " \t\r\n" }}' from {{ expr }}), '')
{%- endmacro %}
