{#-
    The city of a Russian address "<type> <name>, <street>, <house>, <postcode>": the first part,
    without its settlement-type prefix (var settlement_prefixes). Character classes instead of
    backslashes keep the pattern the same in every engine's string literals.
-#}
{% macro city_from_address(address) -%}
    {%- set alternatives = [] -%}
    {%- for prefix in var('settlement_prefixes') -%}
        {%- do alternatives.append(prefix | replace('.', '[.]')) -%}
    {%- endfor -%}
    {%- set settlement = "trim(" ~ dbt.split_part(address, "','", 1) ~ ")" -%}
    nullif({{ regexp_remove(settlement, '^(' ~ alternatives | join('|') ~ ')[ ]+') }}, '')
{%- endmacro %}
