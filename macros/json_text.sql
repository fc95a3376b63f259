{#-
    json_text(json, key, ...): the value at the key path of a JSON text, as text; NULL when the
    text is not JSON, the path is missing, or the value is JSON null. Strings come back unescaped;
    numbers and booleans as their JSON literal (an engine may normalise a number's spelling, e.g.
    ClickHouse writes -12.50 as -12.5), so type the result with try_cast before comparing.
    Nested keys: json_text('payload', 'payload', 'amount') reads {"payload": {"amount": ...}}.
-#}
{% macro json_text(json) -%}
    {%- if not varargs -%}
        {{ exceptions.raise_compiler_error("json_text needs at least one key") }}
    {%- endif -%}
    {{ return(adapter.dispatch('json_text', 'warehouse')(json, varargs)) }}
{%- endmacro %}

{#- Postgres: jsonb path; malformed text gives NULL instead of failing the whole query. -#}
{% macro postgres__json_text(json, keys) -%}
    {%- set path = [] -%}
    {%- for key in keys -%}
        {%- do path.append('"' ~ key | replace('"', '\\"') ~ '"') -%}
    {%- endfor -%}
    {%- set literal = ('{' ~ path | join(',') ~ '}') | replace("'", "''") -%}
    case
        when pg_input_is_valid({{ json }}, 'jsonb')
            then cast({{ json }} as jsonb) #>> '{{ literal }}'
    end
{%- endmacro %}

{#- ClickHouse: a Nullable(String) extract returns strings unescaped and other values as text. -#}
{% macro clickhouse__json_text(json, keys) -%}
    {%- set quoted = [] -%}
    {%- for key in keys -%}
        {%- do quoted.append("'" ~ key | replace("\\", "\\\\") | replace("'", "\\'") ~ "'") -%}
    {%- endfor -%}
    JSONExtract({{ json }}, {{ quoted | join(', ') }}, 'Nullable(String)')
{%- endmacro %}

{#- Vertica: the flex-table map of the document; nested keys are flattened with dots. -#}
{% macro vertica__json_text(json, keys) -%}
    maplookup(mapjsonextractor({{ json }}), '{{ keys | join('.') | replace("'", "''") }}')
{%- endmacro %}
