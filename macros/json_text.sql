{#-
    json_document(text): a JSON text parsed once, for json_text to read fields from; NULL (or,
    on ClickHouse, text no field can be read from) when the text is not JSON. Compute it once per
    row, in a query level the planner keeps (one with group by): every json_text then reads the
    parsed document instead of parsing the text again.

    json_text(document, key, ...): the value at the key path of a json_document, as text; NULL
    when the document is NULL, the path is missing, or the value is JSON null. Strings come back
    unescaped; numbers and booleans as their JSON literal (an engine may normalise a number's
    spelling, e.g. ClickHouse writes -12.50 as -12.5), so type the result with try_cast before
    comparing. Nested keys: json_text('doc', 'payload', 'amount') reads
    {"payload": {"amount": ...}}.
-#}
{% macro json_document(text) -%}
    {{ return(adapter.dispatch('json_document', 'warehouse')(text)) }}
{%- endmacro %}

{#- Postgres: jsonb; malformed text gives NULL instead of failing the whole query. -#}
{% macro postgres__json_document(text) -%}
    case when pg_input_is_valid({{ text }}, 'jsonb') then cast({{ text }} as jsonb) end
{%- endmacro %}

{#- ClickHouse: the text itself; JSONExtract parses it at C speed (NULL if it is not JSON). -#}
{% macro clickhouse__json_document(text) -%}
    {{ text }}
{%- endmacro %}

{#- Vertica: the text itself; json_text reads it as a flex map. -#}
{% macro vertica__json_document(text) -%}
    {{ text }}
{%- endmacro %}

{% macro json_text(document) -%}
    {%- if not varargs -%}
        {{ exceptions.raise_compiler_error("json_text needs at least one key") }}
    {%- endif -%}
    {{ return(adapter.dispatch('json_text', 'warehouse')(document, varargs)) }}
{%- endmacro %}

{#- Postgres: a jsonb path. -#}
{% macro postgres__json_text(document, keys) -%}
    {%- set path = [] -%}
    {%- for key in keys -%}
        {%- do path.append('"' ~ key | replace('"', '\\"') ~ '"') -%}
    {%- endfor -%}
    {%- set literal = ('{' ~ path | join(',') ~ '}') | replace("'", "''") -%}
    ({{ document }} #>> '{{ literal }}')
{%- endmacro %}

{#- ClickHouse: a Nullable(String) extract returns strings unescaped and other values as text. -#}
{% macro clickhouse__json_text(document, keys) -%}
    {%- set quoted = [] -%}
    {%- for key in keys -%}
        {%- do quoted.append("'" ~ key | replace("\\", "\\\\") | replace("'", "\\'") ~ "'") -%}
    {%- endfor -%}
    JSONExtract({{ document }}, {{ quoted | join(', ') }}, 'Nullable(String)')
{%- endmacro %}

{#- Vertica: the flex-table map of the text; nested keys are flattened with dots. -#}
{% macro vertica__json_text(document, keys) -%}
    maplookup(mapjsonextractor({{ document }}), '{{ keys | join('.') | replace("'", "''") }}')
{%- endmacro %}

{#-
    materialized_cte(): put after `name as` of a CTE whose rows must be computed once.
    - PostgreSQL inlines a CTE referenced once and repeats its expressions at every reference
      (a parsed JSON document: the same text parsed a dozen times); `materialized` makes it
      compute each row once. A CTE referenced more than once is materialized anyway.
    - ClickHouse runs a CTE's query again at every reference; `materialized` (with the
      profile's `enable_materialized_cte`, an experimental setting of ClickHouse 26.3 and later)
      runs it once into a temporary table when it is referenced more than once, and inlines it
      otherwise. So use it only where a CTE read more than once is small: the temporary table
      is held in memory. (The three staging models of Kafka read theirs once.)
    - Vertica evaluates each expression once anyway.
-#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'warehouse')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}
{%- endmacro %}

{% macro postgres__materialized_cte() -%}
    materialized
{%- endmacro %}

{% macro clickhouse__materialized_cte() -%}
    materialized
{%- endmacro %}
