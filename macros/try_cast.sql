{#-
    try_cast(expr, type): the value as `type`, or NULL when it cannot be read as one.
    `type` is a portable name: int, numeric, date, timestamp, text; rate (numeric with 6 decimals,
    for exchange rates).
-#}
{% macro try_cast(expr, type) -%}
    {{ return(adapter.dispatch('try_cast', 'warehouse')(expr, type)) }}
{%- endmacro %}

{% macro postgres__try_cast(expr, type) -%}
    {%- set pg_type = {
        'int': 'bigint', 'numeric': 'numeric(18, 2)', 'rate': 'numeric(18, 6)', 'date': 'date',
        'timestamp': 'timestamp', 'text': 'text',
    }[type] -%}
    case when pg_input_is_valid({{ expr }}, '{{ pg_type }}') then cast({{ expr }} as {{ pg_type }}) end
{%- endmacro %}

{% macro clickhouse__try_cast(expr, type) -%}
    {%- set ch_type = {
        'int': 'Int64', 'numeric': 'Decimal(18, 2)', 'rate': 'Decimal(18, 6)', 'date': 'Date',
        'timestamp': 'DateTime64(6)', 'text': 'String',
    }[type] -%}
    accurateCastOrNull({{ expr }}, '{{ ch_type }}')
{%- endmacro %}

{% macro vertica__try_cast(expr, type) -%}
    {%- set v_type = {
        'int': 'int', 'numeric': 'numeric(18, 2)', 'rate': 'numeric(18, 6)', 'date': 'date',
        'timestamp': 'timestamp', 'text': 'varchar(65000)',
    }[type] -%}
    ({{ expr }})::!{{ v_type }}
{%- endmacro %}
