{#-
    Calendar helpers with one small implementation per engine. ISO weeks start on Monday; the
    ISO year of a date can differ from its calendar year around New Year.
-#}

{#- iso_week_start(expr): the Monday of the ISO week of a date, as a date. -#}
{% macro iso_week_start(expr) -%}
    {{ return(adapter.dispatch('iso_week_start', 'warehouse')(expr)) }}
{%- endmacro %}

{% macro default__iso_week_start(expr) -%}
    cast(date_trunc('week', {{ expr }}) as date)
{%- endmacro %}

{% macro clickhouse__iso_week_start(expr) -%}
    toMonday({{ expr }})
{%- endmacro %}

{% macro vertica__iso_week_start(expr) -%}
    cast(trunc({{ expr }}, 'IW') as date)
{%- endmacro %}

{#- iso_week_number(expr): the ISO week number, 1–53. -#}
{% macro iso_week_number(expr) -%}
    {{ return(adapter.dispatch('iso_week_number', 'warehouse')(expr)) }}
{%- endmacro %}

{% macro default__iso_week_number(expr) -%}
    cast(extract(week from {{ expr }}) as int)
{%- endmacro %}

{% macro clickhouse__iso_week_number(expr) -%}
    toInt32(toISOWeek({{ expr }}))
{%- endmacro %}

{% macro vertica__iso_week_number(expr) -%}
    week_iso({{ expr }})
{%- endmacro %}

{#- iso_year(expr): the ISO week-numbering year. -#}
{% macro iso_year(expr) -%}
    {{ return(adapter.dispatch('iso_year', 'warehouse')(expr)) }}
{%- endmacro %}

{% macro default__iso_year(expr) -%}
    cast(extract(isoyear from {{ expr }}) as int)
{%- endmacro %}

{% macro clickhouse__iso_year(expr) -%}
    toInt32(toISOYear({{ expr }}))
{%- endmacro %}

{% macro vertica__iso_year(expr) -%}
    year_iso({{ expr }})
{%- endmacro %}

{#- iso_day_of_week(expr): 1 = Monday … 7 = Sunday. -#}
{% macro iso_day_of_week(expr) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'warehouse')(expr)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(expr) -%}
    cast(extract(isodow from {{ expr }}) as int)
{%- endmacro %}

{% macro clickhouse__iso_day_of_week(expr) -%}
    toInt32(toDayOfWeek({{ expr }}))
{%- endmacro %}

{% macro vertica__iso_day_of_week(expr) -%}
    dayofweek_iso({{ expr }})
{%- endmacro %}

{#- month_start(expr): the first day of the month of a date, as a date. -#}
{% macro month_start(expr) -%}
    {{ return(adapter.dispatch('month_start', 'warehouse')(expr)) }}
{%- endmacro %}

{% macro default__month_start(expr) -%}
    cast(date_trunc('month', {{ expr }}) as date)
{%- endmacro %}

{% macro clickhouse__month_start(expr) -%}
    toStartOfMonth({{ expr }})
{%- endmacro %}

{#-
    calendar_days(start, end): a query with one column `date_day`, one row per day from start
    to end inclusive (datetime.date or 'YYYY-MM-DD').
-#}
{% macro calendar_days(start, end) -%}
    {%- set start = modules.datetime.date.fromisoformat(start | string) -%}
    {%- set end = modules.datetime.date.fromisoformat(end | string) -%}
    {%- if end < start -%}
        {{ exceptions.raise_compiler_error(
            "calendar_days: end " ~ end ~ " is before start " ~ start
        ) }}
    {%- endif -%}
    {{ return(adapter.dispatch('calendar_days', 'warehouse')(start, end)) }}
{%- endmacro %}

{% macro default__calendar_days(start, end) -%}
    select cast(days.day as date) as date_day
    from generate_series(
        {{ date_literal(start) }}, {{ date_literal(end) }}, interval '1 day'
    ) as days (day)
{%- endmacro %}

{% macro clickhouse__calendar_days(start, end) -%}
    select {{ date_literal(start) }} + toInt32(number) as date_day
    from numbers({{ (end - start).days + 1 }})
{%- endmacro %}

{% macro vertica__calendar_days(start, end) -%}
    select cast(slice_time as date) as date_day
    from (
        select cast({{ date_literal(start) }} as timestamp) as bound
        union all
        select cast({{ date_literal(end) }} as timestamp) as bound
    ) as bounds
    timeseries slice_time as '1 day' over (order by bounds.bound)
{%- endmacro %}
